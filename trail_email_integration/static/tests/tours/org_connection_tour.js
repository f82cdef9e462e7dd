/** An organisation connection from the form: find the users, check access, connect them. */
import { registry } from "@web/core/registry";
import { screenshotSteps } from "@trail_email_integration/../tests/tours/screenshot";

registry.category("web_tour.tours").add("trail_org_connection", {
    steps: () => [
        {
            content: "The stored key is named, never shown",
            trigger: ".o_form_view .o_field_widget[name='google_key_hint']:contains('key …')",
        },
        {
            content: "No private key anywhere on the page",
            trigger: "body:not(:contains('PRIVATE KEY'))",
        },
        {
            content: "Find the users of the domain",
            trigger: ".o_form_view button[name='action_find_users']",
            run: "click",
        },
        {
            content: "The three staff are listed",
            trigger: ".o_field_widget[name='line_ids'] .o_data_row:contains('cid@firm.example')",
        },
        {
            content: "Check access",
            trigger: ".o_form_view button[name='action_check_access']",
            run: "click",
        },
        {
            content: "Access is granted, in words",
            trigger: ".o_form_view .o_trail_org_status:contains('Access granted')",
        },
        {
            content: "Connect the chosen users",
            trigger: ".o_form_view button[name='action_connect_users']",
            run: "click",
        },
        {
            content: "Each user's mailbox is importing its history",
            trigger:
                ".o_field_widget[name='line_ids'] .o_data_row:contains('ann@firm.example')" +
                ":contains('Importing history')",
        },
        {
            content: "Bring the users into view for the screenshot",
            trigger: ".o_field_widget[name='line_ids']",
            run() {
                document.querySelector(".o_field_widget[name='line_ids']").scrollIntoView();
            },
        },
        ...screenshotSteps("organisation-connection"),
    ],
});
