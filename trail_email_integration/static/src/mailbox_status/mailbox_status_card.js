/**
 * The mailbox status card: the state in words, the history import's progress with the time
 * left, the last and next scan, the counters, what to do about the last problem, and the
 * buttons that act on the mailbox. It reloads itself while the history import runs.
 */
import { Component, onMounted, onWillUnmount, status } from "@odoo/owl";
import { formatDate, formatDateTime } from "@web/core/l10n/dates";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { formatInteger } from "@web/views/fields/formatters";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

export const POLL_STATES = ["connecting", "backfilling"];
export const STATE_CLASSES = {
    connecting: "text-bg-warning",
    backfilling: "text-bg-info",
    active: "text-bg-success",
    paused: "text-bg-secondary",
    needs_reconnect: "text-bg-danger",
    error: "text-bg-danger",
};

export class MailboxStatusCard extends Component {
    static template = "trail_email_integration.MailboxStatusCard";
    static props = { ...standardFieldProps };
    /** Milliseconds between two reloads while the history import runs. */
    static pollDelay = 5000;

    setup() {
        this.action = useService("action");
        this.orm = useService("orm");
        this.attention = useService("trail_mailbox_attention");
        onMounted(() => {
            this.timer = setInterval(() => this.poll(), this.constructor.pollDelay);
        });
        onWillUnmount(() => clearInterval(this.timer));
    }

    get data() {
        return this.props.record.data;
    }

    get stateLabel() {
        const selection = this.props.record.fields.state.selection;
        const item = selection.find(([value]) => value === this.data.state);
        return item ? item[1] : this.data.state;
    }

    get stateClass() {
        return STATE_CLASSES[this.data.state] || "text-bg-light";
    }

    get providerIcon() {
        return this.data.provider === "microsoft" ? "fa-windows" : "fa-google";
    }

    get showProgress() {
        return !this.data.backfill_done && this.data.state !== "connecting";
    }

    get percent() {
        return Math.min(100, Math.max(0, Math.floor(this.data.backfill_progress || 0)));
    }

    get progressText() {
        const total = Math.max(this.data.backfill_total, this.data.backfill_count);
        return _t("%(done)s of about %(total)s messages", {
            done: formatInteger(this.data.backfill_count),
            total: formatInteger(total),
        });
    }

    get reachedText() {
        const reached = this.data.backfill_reached;
        return reached ? _t("back to %s", formatDate(reached)) : "";
    }

    get timeLeftText() {
        const left = this.data.backfill_time_left;
        return left ? _t("time left: %s", left) : "";
    }

    formatScan(value) {
        return value ? formatDateTime(value) : _t("not yet");
    }

    get counters() {
        const data = this.data;
        return [
            { name: "captured", label: _t("Captured"), value: data.captured_count },
            { name: "filed", label: _t("Filed"), value: data.filed_count },
            { name: "unfiled", label: _t("Unfiled"), value: data.unfiled_count },
            { name: "skipped", label: _t("Skipped"), value: data.skipped_count },
            { name: "failed", label: _t("Failed"), value: data.failed_count },
        ].map((counter) => ({ ...counter, text: formatInteger(counter.value || 0) }));
    }

    get adviceLines() {
        return (this.data.advice || "").split("\n").filter(Boolean);
    }

    get adviceClass() {
        return ["needs_reconnect", "error"].includes(this.data.state)
            ? "alert-danger"
            : "alert-warning";
    }

    get buttons() {
        const state = this.data.state;
        const connecting = state === "connecting";
        return [
            {
                name: "action_reconnect",
                label: connecting ? _t("Connect") : _t("Reconnect"),
                icon: "fa-plug",
                primary: connecting || state === "needs_reconnect",
                visible: true,
            },
            {
                name: "action_scan_now",
                label: _t("Scan now"),
                icon: "fa-refresh",
                primary: state === "backfilling" || state === "active",
                visible: state === "backfilling" || state === "active",
            },
            {
                name: "action_pause",
                label: _t("Pause"),
                icon: "fa-pause",
                visible: state !== "paused",
            },
            {
                name: "action_resume",
                label: _t("Resume"),
                icon: "fa-play",
                primary: true,
                visible: state === "paused" || state === "error",
            },
            {
                name: "action_open_failures",
                label: _t("Failed messages"),
                icon: "fa-exclamation-circle",
                visible: Boolean(this.data.failed_count),
            },
        ].filter((button) => button.visible);
    }

    async poll() {
        const record = this.props.record;
        if (POLL_STATES.includes(this.data.state) && !record.dirty) {
            await record.load();
        }
    }

    async onButton(ev, name) {
        ev.stopPropagation();
        const record = this.props.record;
        const result = await this.orm.call(record.resModel, name, [[record.resId]], {
            context: record.context,
        });
        if (result && typeof result === "object") {
            await this.action.doAction(result, { onClose: () => this.reload() });
        }
        await this.reload();
    }

    async reload() {
        // A button may have opened another screen (Failed messages) in place of this card.
        if (status(this) !== "destroyed") {
            await this.props.record.load();
        }
        if (status(this) !== "destroyed") {
            this.attention.refresh();
        }
    }
}

export const mailboxStatusCard = {
    component: MailboxStatusCard,
    displayName: _t("Mailbox status card"),
    supportedTypes: ["selection"],
    fieldDependencies: [
        { name: "address", type: "char" },
        { name: "provider", type: "selection" },
        { name: "state_message", type: "char" },
        { name: "advice", type: "text" },
        { name: "needs_attention", type: "boolean" },
        { name: "backfill_done", type: "boolean" },
        { name: "backfill_count", type: "integer" },
        { name: "backfill_total", type: "integer" },
        { name: "backfill_reached", type: "datetime" },
        { name: "backfill_progress", type: "float" },
        { name: "backfill_time_left", type: "char" },
        { name: "last_scan", type: "datetime" },
        { name: "next_scan", type: "datetime" },
        { name: "captured_count", type: "integer" },
        { name: "filed_count", type: "integer" },
        { name: "unfiled_count", type: "integer" },
        { name: "skipped_count", type: "integer" },
        { name: "failed_count", type: "integer" },
    ],
};

registry.category("fields").add("trail_mailbox_status", mailboxStatusCard);
