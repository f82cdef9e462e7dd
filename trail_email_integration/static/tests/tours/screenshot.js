/** Tour steps that ask the Python side for a README screenshot (tests/screenshots.py). */

export function screenshotSteps(name) {
    return [
        {
            content: `Screenshot: ${name}`,
            trigger: "body",
            run() {
                console.info(`trail-screenshot:${name}`);
            },
        },
        {
            content: "Let the screenshot be taken before the page changes",
            trigger: "body",
            async run() {
                await new Promise((resolve) => setTimeout(resolve, 1000));
            },
        },
    ];
}
