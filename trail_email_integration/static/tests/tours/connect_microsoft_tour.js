/** Connects a Microsoft 365 mailbox: the sign-in page (the local emulator) answers at once. */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("trail_connect_microsoft", {
    steps: () => [
        {
            content: "Click Connect Microsoft 365",
            trigger:
                ".o_form_view button[name='action_connect_microsoft']:contains('Connect Microsoft 365')",
            run: "click",
        },
        {
            content: "Back from Microsoft, the history import has started",
            trigger: ".o_form_view .o_trail_state_message:contains('Importing past mail')",
        },
    ],
});
