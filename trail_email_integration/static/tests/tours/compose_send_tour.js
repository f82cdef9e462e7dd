/**
 * Writes to a client from a profile's chatter through the full composer: the dialog says the
 * mail leaves from the adviser's Google mailbox, a contact goes in Cc and an address in Bcc,
 * then Send. Data comes from tests/test_send.py (TestComposeSendTour).
 */
import { registry } from "@web/core/registry";

registry.category("web_tour.tours").add("trail_compose_send", {
    steps: () => [
        {
            content: "Open the chatter's composer",
            trigger: ".o-mail-Chatter button:contains(Send message)",
            run: "click",
        },
        {
            content: "The profile itself has no address: leave it out of the recipients",
            trigger: ".o-mail-SuggestedRecipient:contains(Client Family) input:checked",
            run: "click",
        },
        {
            content: "Write the message",
            trigger: ".o-mail-Composer-input",
            run: "edit Sent from the browser",
        },
        {
            content: "Open the full composer",
            trigger: "button[aria-label='Full composer']",
            run: "click",
        },
        {
            content: "The dialog says how the mail will leave",
            trigger:
                ".o_mail_composer_form_view .o_trail_send_route:contains(Sent from your Google mailbox)",
        },
        {
            content: "Address the client",
            trigger: ".o_mail_composer_form_view div[name='partner_ids'] input",
            run: "edit Clara",
        },
        {
            content: "Pick the client",
            trigger: ".o-autocomplete--dropdown-menu a:contains(Clara Client)",
            run: "click",
        },
        {
            content: "Put a contact in Cc",
            trigger: ".o_mail_composer_form_view div[name='trail_cc_partner_ids'] input",
            run: "edit Colin",
        },
        {
            content: "Pick the contact",
            trigger: ".o-autocomplete--dropdown-menu a:contains(Colin Cousin)",
            run: "click",
        },
        {
            content: "Put an address in Bcc",
            trigger: ".o_mail_composer_form_view div[name='trail_email_bcc'] input",
            run: "edit hidden.bcc@example.net",
        },
        {
            content: "The recipients are in place",
            trigger:
                ".o_mail_composer_form_view div[name='trail_cc_partner_ids'] .o_tag:contains(Colin Cousin)",
        },
        {
            content: "Send",
            trigger: ".modal-footer .o_mail_send",
            run: "click",
        },
        {
            content: "The message is on the profile",
            trigger: ".o-mail-Message-body:contains(Sent from the browser)",
        },
    ],
});
