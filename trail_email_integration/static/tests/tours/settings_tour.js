/**
 * Opens Settings → Email integration: the stored Google secret is not sent to the browser
 * (its field is empty, a hint says how it ends), then a new one is typed in and saved. The
 * organisation block says how the connection stands, and the redirect URIs are this server's.
 * Data comes from tests/test_settings_tour.py.
 */
import { registry } from "@web/core/registry";
import { screenshotSteps } from "@trail_email_integration/../tests/tours/screenshot";

const SECRET = ".o_field_widget[name='trail_google_client_secret'] input";
const ORG_STATUS = ".o_field_widget[name='trail_org_status']";

registry.category("web_tour.tours").add("trail_settings_secrets", {
    steps: () => [
        {
            content: "The hint says a secret is stored, and how it ends",
            trigger: ".o_field_widget[name='trail_google_client_secret_hint']:contains('…1234')",
        },
        {
            content: "The secret itself never reached the browser",
            trigger: SECRET,
            run() {
                const input = document.querySelector(SECRET);
                if (input.value || document.body.innerHTML.includes("stored-secret")) {
                    throw new Error("The stored secret was sent to the browser");
                }
            },
        },
        {
            content: "The organisation block says how the connection stands, with the scope",
            trigger: `${ORG_STATUS}:contains('Firm Workspace: Consent missing. Missing: gmail')`,
        },
        {
            content: "The redirect URIs to register are this server's, ready to copy",
            trigger: ".o_field_widget[name='trail_microsoft_redirect_uri']",
            run() {
                for (const provider of ["google", "microsoft"]) {
                    const field = `.o_field_widget[name='trail_${provider}_redirect_uri']`;
                    const shown = document.querySelector(field).textContent.trim();
                    const expected = `${window.location.origin}/trail_email/${provider}/callback`;
                    if (shown !== expected) {
                        throw new Error(`The ${provider} redirect URI reads "${shown}"`);
                    }
                }
            },
        },
        ...screenshotSteps("settings-email-integration"),
        {
            content: "Type a new secret",
            trigger: SECRET,
            run: "edit typed-in-the-browser-5678",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "After saving, the field is empty again and the hint shows the new ending",
            trigger: ".o_field_widget[name='trail_google_client_secret_hint']:contains('…5678')",
            async run() {
                // The settings reload after saving: wait for the fresh screen.
                for (let wait = 0; wait < 50; wait++) {
                    const input = document.querySelector(SECRET);
                    if (input && !input.value) {
                        return;
                    }
                    await new Promise((resolve) => setTimeout(resolve, 100));
                }
                throw new Error("The new secret was shown back");
            },
        },
    ],
});
