/** Connects a Google mailbox: the consent screen (the local emulator) answers at once. */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("trail_connect_google", {
    steps: () => [
        {
            content: "Click Connect Google",
            trigger: ".o_form_view button[name='action_connect_google']:contains('Connect Google')",
            run: "click",
        },
        {
            content: "Back from Google, the history import has started",
            trigger: ".o_form_view .o_trail_state_message:contains('Importing past mail')",
        },
    ],
});
