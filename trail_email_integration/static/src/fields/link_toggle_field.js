/** The link icon: blue when an address is linked (its mail is filed), grey when it is not. */
import { Component } from "@odoo/owl";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { standardFieldProps } from "@web/views/fields/standard_field_props";

/** What the icon means, and what a click does when the user may change it. */
export function linkTitle(linked, readonly = false) {
    const meaning = linked
        ? _t("Linked: mail to and from this address is filed into the contact's profiles.")
        : _t("Not linked: mail of this address is captured but not filed.");
    if (readonly) {
        return meaning;
    }
    return `${meaning} ${linked ? _t("Click to unlink.") : _t("Click to link.")}`;
}

/**
 * Saves the toggle at once when the form had no other pending change, so one click is enough;
 * otherwise the change is saved with the rest of the form.
 */
export async function toggleAndSave(record, fieldName) {
    const root = record.model.root;
    const wasDirty = await root.isDirty();
    await record.update({ [fieldName]: !record.data[fieldName] });
    if (!wasDirty && root.resId) {
        await root.save();
    }
}

export class LinkToggleField extends Component {
    static template = "trail_email_integration.LinkToggleField";
    static props = { ...standardFieldProps };

    get linked() {
        return Boolean(this.props.record.data[this.props.name]);
    }

    get title() {
        return linkTitle(this.linked, this.props.readonly);
    }

    async onClick(ev) {
        ev.stopPropagation();
        if (!this.props.readonly) {
            await toggleAndSave(this.props.record, this.props.name);
        }
    }
}

registry.category("fields").add("trail_link_toggle", {
    component: LinkToggleField,
    displayName: _t("Link icon"),
    supportedTypes: ["boolean"],
    // Like boolean_toggle: clickable in list rows that are not being edited.
    extractProps: (_fieldInfo, dynamicInfo) => ({ readonly: dynamicInfo.readonly }),
});
