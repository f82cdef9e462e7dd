/**
 * The profile timeline on a profile with 500 emails: the first page, a README screenshot, more
 * pages as the list scrolls, the filters, then one email opened. The second tour links an
 * address and finds its old mail on the timeline. Data: tests/test_timeline_tour.py.
 */
import { registry } from "@web/core/registry";
import { screenshotSteps } from "@trail_email_integration/../tests/tours/screenshot";

const list = ".o_trail_timeline_list";
const idle = `${list}:not(:has(.o_trail_timeline_loading))`;
const entry = ".o_trail_timeline_mail";
const outgoing = `${entry}[data-direction=outgoing]`;
const grace = ".o_trail_address_chip[data-email='grace.holloway@example.org']";

function scrollToEnd() {
    const element = document.querySelector(list);
    element.scrollTop = element.scrollHeight;
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
        {
            content: "Scroll to the end of the list",
            trigger: list,
            run: scrollToEnd,
        },
        {
            content: "The next page came in",
            trigger: `${list}:has(${entry}:eq(79))`,
        },
        {
            content: "Scroll again",
            trigger: list,
            run: scrollToEnd,
        },
        {
            content: "And the next",
            trigger: `${list}:has(${entry}:eq(119))`,
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
