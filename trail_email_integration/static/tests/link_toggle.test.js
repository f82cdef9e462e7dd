import { defineMailModels } from "@mail/../tests/mail_test_helpers";
import { describe, expect, test } from "@odoo/hoot";
import { click } from "@odoo/hoot-dom";
import { animationFrame } from "@odoo/hoot-mock";
import { contains, defineModels, mountView, onRpc } from "@web/../tests/web_test_helpers";
import { linkIconModels } from "./helpers/link_icon_models";

describe.current.tags("desktop");

defineMailModels();
defineModels(linkIconModels);

const addressList = (attrs = "") => `
    <form>
        <field name="name"/>
        <field name="address_ids">
            <list editable="bottom">
                <field name="linked" widget="trail_link_toggle" ${attrs}/>
                <field name="email"/>
            </list>
        </field>
    </form>`;

const row = (n) => `.o_data_row:nth-child(${n})`;

test("blue for linked, grey for unlinked, with a tooltip saying what it means", async () => {
    await mountView({ resModel: "trail.contact", resId: 1, type: "form", arch: addressList() });

    expect(`${row(1)} .o_trail_link_toggle`).toHaveClass("o_trail_linked");
    expect(`${row(1)} .o_trail_link_toggle`).toHaveAttribute("aria-pressed", "true");
    expect(`${row(1)} .o_trail_link_toggle`).toHaveAttribute(
        "data-tooltip",
        "Linked: mail to and from this address is filed into the contact's profiles. " +
            "Click to unlink."
    );
    expect(`${row(2)} .o_trail_link_toggle`).toHaveClass("o_trail_unlinked");
    expect(`${row(2)} .o_trail_link_toggle`).toHaveAttribute("aria-pressed", "false");
    expect(`${row(2)} .o_trail_link_toggle`).toHaveAttribute(
        "data-tooltip",
        "Not linked: mail of this address is captured but not filed. Click to link."
    );
    // Blue and grey whatever the theme's primary colour is.
    expect(`${row(1)} .o_trail_link_toggle`).toHaveStyle({ color: "rgb(26, 115, 232)" });
    expect(`${row(2)} .o_trail_link_toggle`).not.toHaveStyle({ color: "rgb(26, 115, 232)" });
});

test("one click toggles in place and saves at once", async () => {
    onRpc("web_save", ({ args }) => {
        expect.step(["web_save", args[1]]);
    });
    await mountView({ resModel: "trail.contact", resId: 1, type: "form", arch: addressList() });

    await click(`${row(2)} .o_trail_link_toggle`);
    await animationFrame();

    expect(`${row(2)} .o_trail_link_toggle`).toHaveClass("o_trail_linked");
    expect(".o_selected_row").toHaveCount(0, { message: "the row did not open for editing" });
    expect.verifySteps([["web_save", { address_ids: [[1, 2, { linked: true }]] }]]);
    expect(".o_form_status_indicator_buttons.invisible").toHaveCount(1);

    await click(`${row(1)} .o_trail_link_toggle`);
    await animationFrame();
    expect(`${row(1)} .o_trail_link_toggle`).toHaveClass("o_trail_unlinked");
    expect.verifySteps([["web_save", { address_ids: [[1, 1, { linked: false }]] }]]);
});

test("with other unsaved changes, the toggle waits for the form's save", async () => {
    onRpc("web_save", ({ args }) => {
        expect.step(["web_save", args[1]]);
    });
    await mountView({ resModel: "trail.contact", resId: 1, type: "form", arch: addressList() });

    await contains(".o_field_widget[name='name'] input").edit("Clara C. Client", {
        confirm: "blur",
    });
    await click(`${row(2)} .o_trail_link_toggle`);
    await animationFrame();
    expect(`${row(2)} .o_trail_link_toggle`).toHaveClass("o_trail_linked");
    expect.verifySteps([]);

    await contains(".o_form_button_save").click();
    expect.verifySteps([
        [
            "web_save",
            { name: "Clara C. Client", address_ids: [[1, 2, { linked: true }]] },
        ],
    ]);
});

test("read-only: the icon shows the state but does not toggle", async () => {
    onRpc("web_save", () => expect.step("web_save"));
    await mountView({
        resModel: "trail.contact",
        resId: 1,
        type: "form",
        arch: addressList('readonly="1"'),
    });

    expect(`${row(2)} .o_trail_link_toggle`).toHaveClass("o_trail_link_readonly");
    expect(`${row(2)} .o_trail_link_toggle`).toHaveAttribute(
        "data-tooltip",
        "Not linked: mail of this address is captured but not filed."
    );
    await click(`${row(2)} .o_trail_link_toggle`);
    await animationFrame();
    expect(`${row(2)} .o_trail_link_toggle`).toHaveClass("o_trail_unlinked");
    expect.verifySteps([]);
});
