/** Opens a profile, then links a contact's address with one click on its link icon. */
import { registry } from "@web/core/registry";

const chip = ".o_trail_address_chip[data-email='tour.client@example.com']";

registry.category("web_tour.tours").add("trail_profile_link_toggle", {
    url: "/odoo/action-trail_email_integration.action_profiles",
    steps: () => [
        {
            content: "Open the profile",
            trigger: ".o_kanban_record:contains('Tour Family')",
            run: "click",
        },
        {
            content: "Show the profile's contacts",
            trigger: ".o_notebook .nav-link:contains('Profile contacts')",
            run: "click",
        },
        {
            content: "The address starts grey (not linked)",
            trigger: `${chip} .o_trail_link_toggle.o_trail_unlinked`,
            run: "click",
        },
        {
            content: "The icon turns blue (linked)",
            trigger: `${chip} .o_trail_link_toggle.o_trail_linked`,
        },
        {
            content: "The form saved the change by itself",
            trigger: ".o_form_view .o_form_status_indicator_buttons.invisible:not(:visible)",
        },
    ],
});
