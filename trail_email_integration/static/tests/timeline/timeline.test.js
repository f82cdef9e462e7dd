import { defineMailModels } from "@mail/../tests/mail_test_helpers";
import { Component, useState, xml } from "@odoo/owl";
import { expect, test } from "@odoo/hoot";
import { queryAll, queryAllTexts, queryAttribute, queryOne } from "@odoo/hoot-dom";
import { advanceTime, animationFrame } from "@odoo/hoot-mock";
import {
    contains,
    mockService,
    mountView,
    mountWithCleanup,
    onRpc,
    patchTranslations,
    serverState,
} from "@web/../tests/web_test_helpers";

import {
    groupByMonth,
    ProfileTimeline,
    SEARCH_DELAY,
} from "@trail_email_integration/timeline/timeline";

defineMailModels();

function mail(id, date, values = {}) {
    return {
        kind: "mail",
        key: `mail-${id}`,
        id,
        sort_date: date,
        date,
        direction: "incoming",
        subject: `Subject ${id}`,
        snippet: `Snippet ${id}`,
        content_hidden: false,
        subject_hidden: false,
        email_from: "",
        contacts: [{ id: 7, name: "Ada Client" }],
        others: [],
        senders: [{ email: "ada@example.com", name: "Ada Client", contact_id: 7 }],
        recipients: [{ email: "alex@firm.example", name: "Alex Adviser", contact_id: false }],
        attachments: [],
        ...values,
    };
}

const CONTACTS = [
    { id: 7, name: "Ada Client" },
    { id: 8, name: "Ben Client" },
];

/** Serves the timeline from `pages` (one per call) and records each call's filters/cursor. */
function serveTimeline(pages) {
    const calls = [];
    onRpc("res.partner", "trail_timeline", ({ args, kwargs }) => {
        calls.push({ ids: args[0], filters: kwargs.filters, cursor: kwargs.cursor });
        return pages[Math.min(calls.length, pages.length) - 1];
    });
    return calls;
}

/** Hoot's `edit` cannot clear an empty date input: set the day as a date picker would. */
async function pickDate(selector, value) {
    const input = queryOne(selector);
    input.value = value;
    input.dispatchEvent(new Event("change", { bubbles: true }));
    await animationFrame();
}

async function mountTimeline(resId = 3) {
    await mountWithCleanup(ProfileTimeline, {
        props: { record: { resId, resModel: "res.partner" } },
    });
}

test("groupByMonth keeps the order and starts a group at each new month", () => {
    const groups = groupByMonth([
        mail(1, "2026-11-20 10:00:00"),
        mail(2, "2026-11-02 10:00:00"),
        mail(3, "2026-09-30 10:00:00"),
    ]);
    expect(groups.map((group) => group.key)).toEqual(["2026-11", "2026-09"]);
    expect(groups.map((group) => group.entries.length)).toEqual([2, 1]);
    expect(groups[1].label).toBe("September 2026");
});

test("lists the mail newest first, by month, with what each entry needs", async () => {
    const calls = serveTimeline([
        {
            entries: [
                mail(1, "2026-11-20 10:00:00", {
                    direction: "outgoing",
                    subject: "Your annual review",
                    others: [{ email: "acc@numbers.example", name: "Acc Ountant" }],
                    senders: [
                        { email: "alex@firm.example", name: "Alex Adviser", contact_id: false },
                    ],
                    recipients: [
                        { email: "ada@example.com", name: "Ada Client", contact_id: 7 },
                        { email: "acc@numbers.example", name: "Acc Ountant", contact_id: false },
                    ],
                    attachments: [
                        { id: 41, name: "review.pdf", mimetype: "application/pdf", url: "" },
                        { id: 42, name: "Shared folder", mimetype: "", url: "https://x.test/f" },
                    ],
                }),
                mail(2, "2026-10-03 09:00:00", { subject: "Re: pension" }),
            ],
            cursor: false,
            contacts: CONTACTS,
        },
    ]);
    await mountTimeline();

    expect(calls).toEqual([{ ids: [3], filters: calls[0].filters, cursor: null }]);
    expect(queryAllTexts(".o_trail_timeline_month")).toEqual(["November 2026", "October 2026"]);
    expect(queryAllTexts(".o_trail_timeline_subject")).toEqual([
        "Your annual review",
        "Re: pension",
    ]);
    expect(".o_trail_timeline_mail:eq(0) .fa-paper-plane").toHaveCount(1);
    expect(".o_trail_timeline_mail:eq(1) .fa-inbox").toHaveCount(1);
    // Who wrote it, then to whom; the profile's contacts stand out.
    expect(".o_trail_timeline_mail:eq(0) .o_trail_timeline_people").toHaveText(
        "Alex Adviser → Ada Client, Acc Ountant"
    );
    expect(".o_trail_timeline_mail:eq(0) .o_trail_timeline_contact_name").toHaveText("Ada Client");
    expect(".o_trail_timeline_mail:eq(0) .o_trail_timeline_other").toHaveCount(2);
    expect(".o_trail_timeline_mail:eq(1) .o_trail_timeline_people").toHaveText(
        "Ada Client → Alex Adviser"
    );
    expect(".o_trail_timeline_mail:eq(1) .o_trail_timeline_snippet").toHaveText("Snippet 2");
    expect(queryAllTexts(".o_trail_timeline_attachment")).toEqual(["review.pdf", "Shared folder"]);
    expect(queryAttribute(".o_trail_attachment_open:eq(0)", "href")).toBe("/web/content/41");
    expect(queryAttribute(".o_trail_attachment_download", "href")).toBe(
        "/web/content/41?download=true"
    );
    expect(queryAttribute(".o_trail_attachment_open:eq(1)", "href")).toBe("https://x.test/f");
    expect(".o_trail_timeline_more").toHaveCount(0);
});

test("an email shared without its content shows neither its text nor its files", async () => {
    serveTimeline([
        {
            entries: [
                mail(1, "2026-11-20 10:00:00", {
                    subject: "Filed client question",
                    snippet: "",
                    content_hidden: true,
                }),
                // Shared without its subject too; were text or files sent, they stay hidden.
                mail(2, "2026-11-19 10:00:00", {
                    subject: "",
                    snippet: "Leaked text",
                    content_hidden: true,
                    subject_hidden: true,
                    attachments: [{ id: 41, name: "leaked.pdf", mimetype: "", url: "" }],
                }),
                mail(3, "2026-11-18 10:00:00", {
                    attachments: [{ id: 42, name: "shared.pdf", mimetype: "", url: "" }],
                }),
            ],
            cursor: false,
            contacts: CONTACTS,
        },
    ]);
    mockService("action", {
        doAction(action) {
            expect.step(action.name);
        },
    });
    await mountTimeline();
    expect(queryAllTexts(".o_trail_timeline_subject")).toEqual([
        "Filed client question",
        "Restricted email",
        "Subject 3",
    ]);
    expect(".o_trail_timeline_mail:eq(1) .o_trail_timeline_subject").toHaveClass("fst-italic");
    for (const index of [0, 1]) {
        const restricted = `.o_trail_timeline_mail:eq(${index})`;
        expect(`${restricted} .o_trail_timeline_restricted`).toHaveText("Content not shared");
        expect(`${restricted} .o_trail_timeline_snippet`).toHaveCount(0);
        expect(`${restricted} .o_trail_timeline_attachment`).toHaveCount(0);
    }
    expect(".o_trail_timeline_list").not.toHaveText(/Leaked|leaked/);
    // Mail shared whole shows its text and its files.
    expect(".o_trail_timeline_mail:eq(2) .o_trail_timeline_restricted").toHaveCount(0);
    expect(".o_trail_timeline_mail:eq(2) .o_trail_timeline_snippet").toHaveText("Snippet 3");
    expect(queryAllTexts(".o_trail_timeline_attachment")).toEqual(["shared.pdf"]);

    await contains(".o_trail_timeline_mail:eq(1)").click();
    expect.verifySteps(["Restricted email"]);
});

test("the labels of mail without a subject, or shared without it, are translated", async () => {
    patchTranslations({
        "(no subject)": "(sans objet)",
        "Restricted email": "E-mail restreint",
    });
    serveTimeline([
        {
            entries: [
                mail(1, "2026-11-20 10:00:00", { subject: "" }),
                mail(2, "2026-11-19 10:00:00", {
                    subject: "",
                    snippet: "",
                    content_hidden: true,
                    subject_hidden: true,
                }),
            ],
            cursor: false,
            contacts: CONTACTS,
        },
    ]);
    await mountTimeline();
    expect(queryAllTexts(".o_trail_timeline_subject")).toEqual([
        "(sans objet)",
        "E-mail restreint",
    ]);
    expect(queryAttribute(".o_trail_timeline_subject:eq(0)", "title")).toBe("(sans objet)");
});

test("loads the next page when the list is scrolled to its end", async () => {
    const calls = serveTimeline([
        {
            entries: [mail(1, "2026-11-20 10:00:00"), mail(2, "2026-11-19 10:00:00")],
            cursor: { mail: ["2026-11-19 10:00:00", 2] },
            contacts: CONTACTS,
        },
        {
            entries: [mail(3, "2026-10-01 10:00:00")],
            cursor: false,
            contacts: CONTACTS,
        },
    ]);
    await mountTimeline();
    expect(".o_trail_timeline_mail").toHaveCount(2);
    expect(".o_trail_timeline_more").toHaveCount(1);
    // A short list, so that two entries already overflow it.
    Object.assign(queryOne(".o_trail_timeline_list").style, {
        maxHeight: "40px",
        overflowY: "auto",
    });

    await contains(".o_trail_timeline_list").scroll({ top: 10000 });
    await animationFrame();
    expect(calls.length).toBe(2);
    expect(calls[1].cursor).toEqual({ mail: ["2026-11-19 10:00:00", 2] });
    expect(queryAllTexts(".o_trail_timeline_subject")).toEqual([
        "Subject 1",
        "Subject 2",
        "Subject 3",
    ]);
    expect(".o_trail_timeline_more").toHaveCount(0);

    // At the end, scrolling asks for nothing more.
    await contains(".o_trail_timeline_list").scroll({ top: 0 });
    await contains(".o_trail_timeline_list").scroll({ top: 10000 });
    expect(calls.length).toBe(2);
});

test("each filter reloads from the first page with the filter set", async () => {
    const calls = serveTimeline([
        { entries: [mail(1, "2026-11-20 10:00:00")], cursor: false, contacts: CONTACTS },
    ]);
    await mountTimeline();

    await contains(".o_trail_timeline_direction").select("incoming");
    await contains(".o_trail_timeline_contact").select("8");
    await contains(".o_trail_timeline_attachments").check();
    await pickDate(".o_trail_timeline_date_from", "2026-01-01");
    await pickDate(".o_trail_timeline_date_to", "2026-06-30");
    await contains(".o_trail_timeline_search").edit("pension");
    await animationFrame();

    expect(calls.at(-1)).toEqual({
        ids: [3],
        cursor: null,
        filters: {
            direction: "incoming",
            contact_id: "8",
            with_attachments: true,
            date_from: "2026-01-01",
            date_to: "2026-06-30",
            search: "pension",
            activities: false,
        },
    });
    expect(calls.every((call) => call.cursor === null)).toBe(true);

    await contains(".o_trail_timeline_clear").click();
    expect(calls.at(-1).filters).toEqual({
        direction: "",
        contact_id: "",
        with_attachments: false,
        date_from: "",
        date_to: "",
        search: "",
        activities: false,
    });
    expect(".o_trail_timeline_clear").toHaveCount(0);
});

test("the text search applies once typing pauses, and only once", async () => {
    const calls = serveTimeline([
        { entries: [mail(1, "2026-11-20 10:00:00")], cursor: false, contacts: CONTACTS },
    ]);
    await mountTimeline();
    expect(calls.length).toBe(1);

    await contains(".o_trail_timeline_search").edit("tax", { confirm: false });
    await advanceTime(SEARCH_DELAY / 2);
    expect(calls.length).toBe(1);
    await advanceTime(SEARCH_DELAY);
    await animationFrame();
    expect(calls.length).toBe(2);
    expect(calls[1].filters.search).toBe("tax");

    // Leaving the box afterwards asks for nothing more: the search is already applied.
    await contains(".o_trail_timeline_direction").click();
    await animationFrame();
    expect(calls.length).toBe(2);
});

test("a period that starts after it ends is not asked for, and says so", async () => {
    const calls = serveTimeline([
        { entries: [mail(1, "2026-11-20 10:00:00")], cursor: false, contacts: CONTACTS },
    ]);
    await mountTimeline();
    await pickDate(".o_trail_timeline_date_from", "2026-06-30");
    await pickDate(".o_trail_timeline_date_to", "2026-01-01");
    expect(calls.length).toBe(2);
    expect(".o_trail_timeline_empty").toHaveText(
        "The period starts after it ends: swap the dates."
    );
});

test("another record starts with no filters, the notes switch kept", async () => {
    const calls = serveTimeline([
        { entries: [mail(1, "2026-11-20 10:00:00")], cursor: false, contacts: CONTACTS },
    ]);
    class Form extends Component {
        static template = xml`<ProfileTimeline record="state.record"/>`;
        static components = { ProfileTimeline };
        static props = ["*"];
        setup() {
            this.state = useState({ record: { resId: 3, resModel: "res.partner" } });
        }
    }
    const form = await mountWithCleanup(Form);
    await contains(".o_trail_timeline_contact").select("8");
    await contains(".o_trail_timeline_activities").check();
    expect(calls.at(-1).filters.contact_id).toBe("8");

    form.state.record = { resId: 4, resModel: "res.partner" };
    await animationFrame();
    await animationFrame();
    expect(calls.at(-1).ids).toEqual([4]);
    expect(calls.at(-1).filters.contact_id).toBe("");
    expect(calls.at(-1).filters.activities).toBe(true);
});

test("an empty result says so", async () => {
    serveTimeline([{ entries: [], cursor: false, contacts: CONTACTS }]);
    await mountTimeline();
    expect(".o_trail_timeline_empty").toHaveText("No email filed here yet.");
    await contains(".o_trail_timeline_direction").select("outgoing");
    expect(".o_trail_timeline_empty").toHaveText("Nothing matches these filters.");
});

test("clicking an entry opens the full email", async () => {
    serveTimeline([
        { entries: [mail(5, "2026-11-20 10:00:00")], cursor: false, contacts: CONTACTS },
    ]);
    mockService("action", {
        doAction(action) {
            expect.step(action);
        },
    });
    await mountTimeline();
    await contains(".o_trail_timeline_mail").click();
    expect.verifySteps([
        {
            type: "ir.actions.act_window",
            name: "Subject 5",
            res_model: "trail.mail",
            res_id: 5,
            views: [[false, "form"]],
            target: "new",
        },
    ]);

    // Attachment chips open the file, not the email.
    serveTimeline([
        {
            entries: [
                mail(6, "2026-11-20 10:00:00", {
                    attachments: [{ id: 9, name: "a.pdf", mimetype: "", url: "" }],
                }),
            ],
            cursor: false,
            contacts: CONTACTS,
        },
    ]);
    await contains(".o_trail_timeline_direction").select("incoming");
    for (const link of queryAll(".o_trail_attachment_open")) {
        link.addEventListener("click", (ev) => ev.preventDefault());
    }
    await contains(".o_trail_attachment_open").click();
    expect.verifySteps([]);
});

test("notes and activities come in behind the switch", async () => {
    const calls = serveTimeline([
        { entries: [mail(1, "2026-11-20 10:00:00")], cursor: false, contacts: CONTACTS },
        {
            entries: [
                {
                    kind: "activity",
                    key: "activity-4",
                    id: 4,
                    sort_date: "2026-11-25 00:00:00",
                    date: "2026-11-25",
                    summary: "Send the annual review",
                    activity_type: "To-Do",
                    user: "Alex Adviser",
                    state: "planned",
                },
                mail(1, "2026-11-20 10:00:00"),
                {
                    kind: "note",
                    key: "note-9",
                    id: 9,
                    sort_date: "2026-11-19 08:00:00",
                    date: "2026-11-19 08:00:00",
                    author: "Alex Adviser",
                    text: "Called Ada about the pension",
                },
            ],
            cursor: false,
            contacts: CONTACTS,
        },
    ]);
    await mountTimeline();
    expect(".o_trail_timeline_note, .o_trail_timeline_activity").toHaveCount(0);

    await contains(".o_trail_timeline_activities").check();
    expect(calls.at(-1).filters.activities).toBe(true);
    expect(queryAll(".o_trail_timeline_entry").map((el) => el.dataset.id)).toEqual([
        "4",
        "1",
        "9",
    ]);
    expect(".o_trail_timeline_activity").toHaveText(/Send the annual review · Alex Adviser/);
    expect(".o_trail_timeline_note").toHaveText(/Called Ada about the pension/);
    // The switch is not a filter: there is nothing to clear.
    expect(".o_trail_timeline_clear").toHaveCount(0);
});

test("a record not saved yet asks to be saved", async () => {
    const calls = serveTimeline([]);
    await mountTimeline(false);
    expect(calls).toEqual([]);
    expect(".o_trail_timeline_empty").toHaveText("Save the record to see its timeline.");
});

test("the trail_timeline view widget shows the record's timeline in its form", async () => {
    const profileId = serverState.partnerId;
    const calls = serveTimeline([
        { entries: [mail(1, "2026-11-20 10:00:00")], cursor: false, contacts: CONTACTS },
    ]);
    await mountView({
        type: "form",
        resModel: "res.partner",
        resId: profileId,
        // Not the default id, which the mail test models already use for their partner form.
        viewId: 7001,
        arch: `<form><sheet><widget name="trail_timeline"/></sheet></form>`,
    });
    expect(".o_form_view .o_trail_timeline").toHaveCount(1);
    expect(".o_form_view .o_trail_timeline .o_trail_timeline_mail").toHaveCount(1);
    expect(calls.map((call) => call.ids)).toEqual([[profileId]]);
});
