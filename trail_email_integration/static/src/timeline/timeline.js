/**
 * The profile timeline: the mail filed into a profile (or a contact's mail), newest first and
 * grouped by month, with filters, paging as the user scrolls, and, behind a switch, the
 * record's chatter notes and activities. Pages come from `res.partner.trail_timeline`.
 */
import { Component, onWillStart, onWillUpdateProps, useRef, useState } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { deserializeDate, deserializeDateTime, formatDateTime } from "@web/core/l10n/dates";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { useDebounced } from "@web/core/utils/timing";
import { standardWidgetProps } from "@web/views/widgets/standard_widget_props";

export const PAGE_SIZE = 40;
// Load the next page when the list is scrolled to within this many pixels of its end.
const SCROLL_MARGIN = 200;
// The text search applies once typing pauses for this long (or at once on Enter).
export const SEARCH_DELAY = 400;

export function emptyFilters() {
    return {
        direction: "",
        with_attachments: false,
        contact_id: "",
        date_from: "",
        date_to: "",
        search: "",
        activities: false,
    };
}

/** Groups entries (already newest first) into `[{ key, label, entries }]`, one per month. */
export function groupByMonth(entries) {
    const groups = [];
    for (const entry of entries) {
        const parse = entry.kind === "activity" ? deserializeDate : deserializeDateTime;
        const when = parse(entry.date);
        const key = when.toFormat("yyyy-MM");
        let group = groups.at(-1);
        if (!group || group.key !== key) {
            group = { key, label: when.toFormat("MMMM yyyy"), entries: [] };
            groups.push(group);
        }
        group.entries.push(entry);
    }
    return groups;
}

export class ProfileTimeline extends Component {
    static template = "trail_email_integration.ProfileTimeline";
    static props = { ...standardWidgetProps };

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.listRef = useRef("list");
        this.state = useState({
            entries: [],
            contacts: [],
            cursor: false,
            loading: false,
            loaded: false,
            filters: emptyFilters(),
        });
        // Answers to a request made before the filters changed are dropped.
        this.generation = 0;
        this.onSearchInput = useDebounced(
            (ev) => this.setFilter("search", ev.target.value),
            SEARCH_DELAY
        );
        onWillStart(() => this.reload());
        onWillUpdateProps((next) => {
            if (next.record.resId !== this.props.record.resId) {
                // Another record: its own contacts, so the filters start afresh (the notes
                // and activities switch is a way of reading, and stays).
                const activities = this.state.filters.activities;
                this.state.filters = { ...emptyFilters(), activities };
                return this.reload(next.record.resId);
            }
        });
    }

    get resId() {
        return this.props.record.resId;
    }

    get groups() {
        return groupByMonth(this.state.entries);
    }

    get hasMore() {
        return Boolean(this.state.cursor);
    }

    get filtersActive() {
        const { activities, ...rest } = this.state.filters;
        return Object.values(rest).some(Boolean);
    }

    get datesInverted() {
        const { date_from, date_to } = this.state.filters;
        return Boolean(date_from && date_to && date_from > date_to);
    }

    async reload(resId = this.resId) {
        this.generation++;
        this.state.entries = [];
        this.state.cursor = false;
        this.state.loaded = false;
        if (!resId || this.datesInverted) {
            this.state.loaded = true;
            return;
        }
        await this.fetchPage(resId, null);
    }

    async loadMore() {
        if (this.state.loading || !this.hasMore) {
            return;
        }
        await this.fetchPage(this.resId, this.state.cursor);
    }

    async fetchPage(resId, cursor) {
        const generation = this.generation;
        this.state.loading = true;
        try {
            const page = await this.orm.call("res.partner", "trail_timeline", [[resId]], {
                filters: { ...this.state.filters },
                cursor,
                limit: PAGE_SIZE,
            });
            if (generation !== this.generation) {
                return;
            }
            this.state.entries.push(...page.entries);
            this.state.cursor = page.cursor;
            this.state.contacts = page.contacts;
            this.state.loaded = true;
        } finally {
            if (generation === this.generation) {
                this.state.loading = false;
            }
        }
    }

    setFilter(name, value) {
        if (this.state.filters[name] === value) {
            return;
        }
        this.state.filters[name] = value;
        return this.reload();
    }

    onCheck(name, ev) {
        return this.setFilter(name, ev.target.checked);
    }

    clearFilters() {
        const activities = this.state.filters.activities;
        Object.assign(this.state.filters, emptyFilters(), { activities });
        return this.reload();
    }

    onScroll() {
        const list = this.listRef.el;
        if (list && list.scrollHeight - list.scrollTop - list.clientHeight < SCROLL_MARGIN) {
            this.loadMore();
        }
    }

    /**
     * The subject line of a mail entry. An email shared without its subject reads as its
     * display name does ("Restricted email"); one without a subject says so.
     */
    subjectLabel(entry) {
        if (entry.subject_hidden) {
            return _t("Restricted email");
        }
        return entry.subject || _t("(no subject)");
    }

    openMail(entry) {
        return this.action.doAction({
            type: "ir.actions.act_window",
            name: this.subjectLabel(entry),
            res_model: "trail.mail",
            res_id: entry.id,
            views: [[false, "form"]],
            target: "new",
        });
    }

    isContactSelected(contact) {
        return `${this.state.filters.contact_id}` === `${contact.id}`;
    }

    onEntryKeydown(ev, entry) {
        if (ev.key === "Enter") {
            this.openMail(entry);
        }
    }

    attachmentUrl(attachment, download = false) {
        if (attachment.url) {
            return attachment.url;
        }
        return `/web/content/${attachment.id}${download ? "?download=true" : ""}`;
    }

    get directions() {
        return [
            { value: "", label: _t("Received and sent") },
            { value: "incoming", label: _t("Received") },
            { value: "outgoing", label: _t("Sent") },
        ];
    }

    directionTitle(entry) {
        return entry.direction === "outgoing" ? _t("Sent") : _t("Received");
    }

    directionClass(entry) {
        const colour = entry.direction === "outgoing" ? "text-bg-success" : "text-bg-info";
        return `o_trail_timeline_icon ${colour}`;
    }

    directionIcon(entry) {
        return `fa ${entry.direction === "outgoing" ? "fa-paper-plane" : "fa-inbox"}`;
    }

    formatWhen(entry) {
        if (entry.kind === "activity") {
            return deserializeDate(entry.date).toLocaleString({ day: "numeric", month: "short" });
        }
        return formatDateTime(deserializeDateTime(entry.date), { showSeconds: false });
    }

    participantLabel(participant) {
        return participant.name || participant.email;
    }

    personClass(person) {
        return person.contact_id
            ? "o_trail_timeline_contact_name fw-bold"
            : "o_trail_timeline_other text-muted";
    }
}

registry.category("view_widgets").add("trail_timeline", {
    component: ProfileTimeline,
});
