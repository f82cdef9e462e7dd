/**
 * Opens a hostile email on the Mailbox page and checks that none of its vectors ran, that
 * its remote image stayed unloaded until "Show remote images", and that showing remote
 * content brought back nothing active. Data comes from tests/test_hostile_html.py; every
 * vector there would call window.trailXss(name), or add a .trail-xss-marker, if it ran.
 */
import { registry } from "@web/core/registry";

const BODY = ".o_form_view .o_field_widget[name='body_html_view']";

function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

function remoteOrigin() {
    const match = document.querySelector(BODY).textContent.match(/Remote origin: (\S+)/);
    if (!match) {
        throw new Error("The email's remote origin line is missing");
    }
    return match[1];
}

async function remoteHits() {
    const response = await fetch(`${remoteOrigin()}/hits`, { cache: "no-store" });
    return (await response.json()).hits;
}

function assertInert(when) {
    const fired = window.trailXssFired || [];
    if (fired.length) {
        throw new Error(`${when}: vectors ran: ${fired.join(", ")}`);
    }
    const body = document.querySelector(BODY);
    const checks = {
        "a DOM marker": document.querySelector(".trail-xss-marker"),
        "a script element": body.querySelector("script"),
        "an event handler": [...body.querySelectorAll("*")].find((el) =>
            [...el.attributes].some((attr) => attr.name.toLowerCase().startsWith("on"))
        ),
        "a javascript: or data: link": [...body.querySelectorAll("[href], [action], [src]")].find(
            (el) =>
                ["href", "action", "src"].some((name) =>
                    /^\s*(javascript|data|vbscript):/i.test(el.getAttribute(name) || "")
                )
        ),
        "an iframe, object or embed": body.querySelector("iframe, object, embed, frame"),
        "a base or meta element": body.querySelector("base, meta, link"),
        "a form": body.querySelector("form"),
        "a CSS expression": [...body.querySelectorAll("[style]")].find((el) =>
            /expression\s*\(|javascript:/i.test(el.getAttribute("style"))
        ),
    };
    for (const [what, found] of Object.entries(checks)) {
        if (found) {
            throw new Error(`${when}: the body still holds ${what}: ${found.outerHTML || found}`);
        }
    }
    if (!document.baseURI.startsWith(window.location.origin)) {
        throw new Error(`${when}: the page's base URL changed to ${document.baseURI}`);
    }
}

registry.category("web_tour.tours").add("trail_hostile_html", {
    steps: () => [
        {
            content: "Arm the flags every vector would set",
            trigger: ".o_list_view",
            run() {
                window.trailXssFired = [];
                window.trailXss = (name) => window.trailXssFired.push(name);
            },
        },
        {
            content: "Open the hostile email",
            trigger: ".o_data_row td:contains('Hostile HTML')",
            run: "click",
        },
        {
            content: "Its body is shown",
            trigger: `${BODY}:contains('Hostile body loaded')`,
        },
        {
            content: "Nothing ran and nothing remote loaded",
            trigger: `${BODY}:contains('Hostile body loaded')`,
            async run() {
                await sleep(1500);
                assertInert("On opening");
                const hits = await remoteHits();
                if (hits) {
                    throw new Error(`${hits} remote requests before remote content was allowed`);
                }
            },
        },
        {
            content: "Allow remote content",
            trigger: "button[name='action_show_remote_content']",
            run: "click",
        },
        {
            content: "The remote image is back",
            trigger: `${BODY} img[src*='/pixel.png']`,
        },
        {
            content: "It loads, and still nothing ran",
            trigger: `${BODY} img[src*='/pixel.png']`,
            async run() {
                for (let attempt = 0; attempt < 50 && !(await remoteHits()); attempt++) {
                    await sleep(100);
                }
                if (!(await remoteHits())) {
                    throw new Error("The remote image did not load once allowed");
                }
                await sleep(1500);
                assertInert("After showing remote content");
            },
        },
    ],
});
