/** The attention badge on the "My mailbox" menu entry of the navbar. */
import { useState } from "@odoo/owl";
import { useService } from "@web/core/utils/hooks";
import { patch } from "@web/core/utils/patch";
import { NavBar } from "@web/webclient/navbar/navbar";
import { MY_MAILBOX_MENU } from "./attention_service";

patch(NavBar.prototype, {
    setup() {
        super.setup(...arguments);
        this.trailAttention = useState(useService("trail_mailbox_attention").state);
    },

    trailBadgeCount(menu) {
        return menu.xmlid === MY_MAILBOX_MENU ? this.trailAttention.count : 0;
    },
});
