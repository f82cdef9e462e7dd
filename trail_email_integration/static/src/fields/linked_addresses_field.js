/** A contact's addresses as chips, each with its link icon, toggled in place. */
import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";
import { linkTitle, toggleAndSave } from "./link_toggle_field";

export class LinkedAddressesField extends Component {
    static template = "trail_email_integration.LinkedAddressesField";
    static props = { ...standardFieldProps };

    get addresses() {
        return this.props.record.data[this.props.name].records;
    }

    title(address) {
        return linkTitle(address.data.linked, this.props.readonly);
    }

    async onToggle(ev, address) {
        ev.stopPropagation();
        if (!this.props.readonly) {
            await toggleAndSave(address, "linked");
        }
    }
}

registry.category("fields").add("trail_linked_addresses", {
    component: LinkedAddressesField,
    displayName: _t("Addresses with link icons"),
    supportedTypes: ["one2many"],
    relatedFields: [
        { name: "email", type: "char" },
        { name: "linked", type: "boolean", readonly: false },
    ],
    extractProps: (_fieldInfo, dynamicInfo) => ({ readonly: dynamicInfo.readonly }),
});
