/**
 * How many of the user's mailboxes need them, for the badge on the "My mailbox" menu. The
 * server pushes the new count on the bus whenever a mailbox starts or stops needing attention,
 * or changes its state; each push is also announced on ``bus`` ("change"), so open status cards
 * can re-read their mailbox.
 */
import { EventBus, reactive } from "@odoo/owl";
import { registry } from "@web/core/registry";

export const ATTENTION_BUS_TYPE = "trail.mailbox/attention";
export const MY_MAILBOX_MENU = "trail_email_integration.menu_my_mailbox";

export const mailboxAttentionService = {
    dependencies: ["bus_service", "orm"],
    start(env, { bus_service, orm }) {
        const state = reactive({ count: 0 });
        const bus = new EventBus();

        async function refresh() {
            try {
                state.count = await orm.silent.call("trail.mailbox", "trail_attention_count", []);
            } catch {
                // Users without access to mailboxes simply get no badge.
                state.count = 0;
            }
        }

        bus_service.subscribe(ATTENTION_BUS_TYPE, ({ count }) => {
            state.count = count;
            // Announced even when the count stays: a mailbox may have gone from failed
            // messages to needing a reconnect, which its card must show.
            bus.trigger("change", { count });
        });
        bus_service.start();
        refresh();
        return { state, bus, refresh };
    },
};

registry.category("services").add("trail_mailbox_attention", mailboxAttentionService);
