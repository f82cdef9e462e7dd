/**
 * The profile timeline on a profile with 500 emails: the first page, a README screenshot, every
 * further page as the list scrolls down to the oldest email, the filters, then one email opened.
 * The second tour links an address and finds its old mail on the timeline. Data:
 * tests/test_timeline_tour.py.
 */
import { registry } from "@web/core/registry";
import { PAGE_SIZE } from "@trail_email_integration/timeline/timeline";
import { screenshotSteps } from "@trail_email_integration/../tests/tours/screenshot";

// What tests/test_timeline_tour.py makes: this many emails, the oldest with this subject.
const MAIL_COUNT = 500;
const OLDEST_SUBJECT = "Welcome to the practice";

const list = ".o_trail_timeline_list";
const idle = `${list}:not(:has(.o_trail_timeline_loading))`;
const entry = ".o_trail_timeline_mail";
const more = ".o_trail_timeline_more";
const outgoing = `${entry}[data-direction=outgoing]`;
const grace = ".o_trail_address_chip[data-email='grace.holloway@example.org']";

function scrollToEnd() {
    const element = document.querySelector(list);
    element.scrollTop = element.scrollHeight;
}

/** Scroll to the end of the list, page after page, until every email is listed. */
function scrollToTheOldestSteps() {
    const steps = [];
    const pages = Math.ceil(MAIL_COUNT / PAGE_SIZE);
    for (let page = 2; page <= pages; page++) {
        const last = Math.min(page * PAGE_SIZE, MAIL_COUNT) - 1;
        steps.push(
            {
                content: `Scroll to the end of the list for page ${page} of ${pages}`,
                trigger: `${idle}:has(${entry}:eq(${last - PAGE_SIZE}))`,
                run: scrollToEnd,
            },
            {
                content: `Page ${page} came in`,
                trigger: `${idle}:has(${entry}:eq(${last}))`,
            }
        );
    }
    return steps;
}

/** Every email is listed once, the oldest last, and nothing more is offered. */
function checkAllListed() {
    const entries = [...document.querySelectorAll(entry)];
    const ids = new Set(entries.map((el) => el.dataset.id));
    if (entries.length !== MAIL_COUNT || ids.size !== MAIL_COUNT) {
        throw new Error(`${entries.length} entries (${ids.size} emails), not ${MAIL_COUNT}`);
    }
    const oldest = entries.at(-1).querySelector(".o_trail_timeline_subject").textContent;
    if (oldest !== OLDEST_SUBJECT) {
        throw new Error(`The last entry is "${oldest}", not the oldest email`);
    }
}

registry.category("web_tour.tours").add("trail_timeline", {
    steps: () => [
        {
            content: "The timeline opens with its first page (40 entries), grouped by month",
            trigger: `${list}:has(${entry}:eq(39)):not(:has(${entry}:eq(40)))`,
        },
        {
            content: "Entries show their attachments",
            trigger: `${entry}:contains(Annual review) .o_trail_timeline_attachment`,
        },
        {
            content: "Bring the timeline into view for the screenshot",
            trigger: ".o_trail_timeline_month",
            run() {
                document.querySelector(".o_notebook").scrollIntoView();
            },
        },
        ...screenshotSteps("timeline"),
        ...scrollToTheOldestSteps(),
        {
            content: "All the emails are listed, down to the oldest, with no more to load",
            trigger: `${idle}:not(:has(${more})) ${entry}:contains(${OLDEST_SUBJECT})`,
            run: checkAllListed,
        },
        {
            content: "Scrolling at the end loads nothing more",
            trigger: idle,
            async run() {
                scrollToEnd();
                await new Promise((resolve) => setTimeout(resolve, 300));
                if (document.querySelector(`.o_trail_timeline_loading, ${more}`)) {
                    throw new Error("The timeline is still loading after its last page");
                }
                checkAllListed();
            },
        },
        {
            content: "Show received mail only",
            trigger: ".o_trail_timeline_direction",
            run: "select incoming",
        },
        {
            content: "Only received mail is listed",
            trigger: `${idle}:not(:has(${outgoing})) ${entry}`,
        },
        {
            content: "Only mail with attachments",
            trigger: ".o_trail_timeline_attachments",
            run: "check",
        },
        {
            content: "Every entry is received mail with an attachment",
            trigger: `${idle}:not(:has(${outgoing})) ${entry}:has(.o_trail_timeline_attachment)`,
            run() {
                const entries = [...document.querySelectorAll(entry)];
                if (entries.some((el) => !el.querySelector(".o_trail_timeline_attachment"))) {
                    throw new Error("An entry without attachments is still listed");
                }
            },
        },
        {
            content: "Clear the filters",
            trigger: ".o_trail_timeline_clear",
            run: "click",
        },
        {
            content: "Sent mail and mail without attachments are back",
            trigger: `${idle}:has(${outgoing}) ${entry}:not(:has(.o_trail_timeline_attachment))`,
        },
        {
            content: "Search for a subject",
            trigger: ".o_trail_timeline_search",
            run: "edit updated plan",
        },
        {
            content: "Apply the search",
            trigger: ".o_trail_timeline_search",
            run: "press Enter",
        },
        {
            content: "One email matches: open it",
            trigger: `${idle}:not(:has(${entry}:eq(1))) ${entry}:contains(your updated plan)`,
            run: "click",
        },
        {
            content: "The full email opens with its rendered HTML",
            trigger: ".modal [name=body_html_view] p:contains(Please find attached your updated)",
        },
    ],
});

registry.category("web_tour.tours").add("trail_timeline_link", {
    steps: () => [
        {
            content: "Nothing is filed yet",
            trigger: ".o_trail_timeline_empty:contains(No email filed here yet)",
        },
        {
            content: "Show the profile's contacts",
            trigger: ".o_notebook .nav-link:contains('Profile contacts')",
            run: "click",
        },
        {
            content: "Link Grace's address",
            trigger: `${grace} .o_trail_link_toggle.o_trail_unlinked`,
            run: "click",
        },
        {
            content: "The address is linked",
            trigger: `${grace} .o_trail_link_toggle.o_trail_linked`,
        },
        {
            content: "The form saved the change by itself",
            trigger: ".o_form_view .o_form_status_indicator_buttons.invisible:not(:visible)",
        },
        {
            content: "Back to the timeline",
            trigger: ".o_notebook .nav-link:contains('Timeline')",
            run: "click",
        },
        {
            content: "The old mail is there now",
            trigger: ".o_trail_timeline_mail:contains(Trust deed from 2019)",
        },
    ],
});
