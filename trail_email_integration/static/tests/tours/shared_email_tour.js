/**
 * A colleague opens an email whose mailbox shares only the subject and metadata: the form
 * opens, says so, and offers neither the body, the files nor the original. Data comes from
 * tests/test_security.py (TestMailAccessHttp).
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("trail_shared_email", {
    steps: () => [
        {
            content: "Only the filed email is listed; the unfiled one stays private",
            trigger: ".o_list_view .o_data_row td:contains('Filed client question')",
            run() {
                if (document.body.textContent.includes("Private unfiled matter")) {
                    throw new Error("Another user's unfiled email is listed");
                }
            },
        },
        {
            content: "Open the filed email",
            trigger: ".o_data_row td:contains('Filed client question')",
            run: "click",
        },
        {
            content: "The form says the content is not shared",
            trigger: ".o_form_view .o_trail_content_hidden:visible",
        },
        {
            content: "No body, no files, no original",
            trigger: ".o_form_view .o_trail_content_hidden:visible",
            run() {
                const form = document.querySelector(".o_form_view");
                if (form.textContent.includes("Filed body text")) {
                    throw new Error("The body was shown");
                }
                if (form.querySelector("button[name='action_download_original']")) {
                    throw new Error("The original is offered");
                }
            },
        },
    ],
});
