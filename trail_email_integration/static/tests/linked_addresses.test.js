import { defineMailModels } from "@mail/../tests/mail_test_helpers";
import { describe, expect, test } from "@odoo/hoot";
import { click } from "@odoo/hoot-dom";
import { animationFrame } from "@odoo/hoot-mock";
import { defineModels, mountView, onRpc } from "@web/../tests/web_test_helpers";
import { linkIconModels } from "./helpers/link_icon_models";

describe.current.tags("desktop");

defineMailModels();
defineModels(linkIconModels);

// As on a profile: the contacts in a list, each with its addresses as chips.
const profileForm = (attrs = "") => `
    <form>
        <field name="name"/>
        <field name="member_ids">
            <list editable="bottom">
                <field name="name"/>
                <field name="address_ids" widget="trail_linked_addresses" ${attrs}/>
            </list>
        </field>
    </form>`;

const chip = (email) => `.o_trail_address_chip[data-email='${email}']`;

test("each address is a chip with its link icon and a tooltip", async () => {
    await mountView({ resModel: "trail.profile", resId: 1, type: "form", arch: profileForm() });

    expect(".o_trail_address_chip").toHaveCount(2);
    expect(chip("clara@example.com")).toHaveText("clara@example.com");
    expect(`${chip("clara@example.com")} .o_trail_link_toggle`).toHaveClass("o_trail_linked");
    expect(`${chip("clara.home@example.net")} .o_trail_link_toggle`).toHaveClass(
        "o_trail_unlinked"
    );
    expect(`${chip("clara.home@example.net")} .o_trail_link_toggle`).toHaveAttribute(
        "data-tooltip",
        "Not linked: mail of this address is captured but not filed. Click to link."
    );
    expect(`${chip("clara@example.com")} .o_trail_link_toggle`).toHaveAttribute(
        "aria-label",
        "Linked: mail to and from this address is filed into the contact's profiles. " +
            "Click to unlink."
    );
});

test("a click links the address in place and saves the profile", async () => {
    onRpc("web_save", ({ args }) => {
        expect.step(["web_save", args[1]]);
    });
    await mountView({ resModel: "trail.profile", resId: 1, type: "form", arch: profileForm() });

    await click(`${chip("clara.home@example.net")} .o_trail_link_toggle`);
    await animationFrame();

    expect(`${chip("clara.home@example.net")} .o_trail_link_toggle`).toHaveClass(
        "o_trail_linked"
    );
    expect(".o_selected_row").toHaveCount(0, { message: "the contact row stayed closed" });
    expect.verifySteps([
        ["web_save", { member_ids: [[1, 1, { address_ids: [[1, 2, { linked: true }]] }]] }],
    ]);
    expect(".o_form_status_indicator_buttons.invisible").toHaveCount(1);
});

test("read-only: the chips show the state but do not toggle", async () => {
    onRpc("web_save", () => expect.step("web_save"));
    await mountView({
        resModel: "trail.profile",
        resId: 1,
        type: "form",
        arch: profileForm('readonly="1"'),
    });

    await click(`${chip("clara.home@example.net")} .o_trail_link_toggle`);
    await animationFrame();
    expect(`${chip("clara.home@example.net")} .o_trail_link_toggle`).toHaveClass(
        "o_trail_unlinked"
    );
    expect(`${chip("clara.home@example.net")} .o_trail_link_toggle`).toHaveAttribute(
        "data-tooltip",
        "Not linked: mail of this address is captured but not filed."
    );
    expect.verifySteps([]);
});
