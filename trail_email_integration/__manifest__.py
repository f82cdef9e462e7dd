{
    "name": "Trail Email Integration",
    "summary": "Capture every client email from Gmail and Microsoft 365 and file it into profiles",
    "version": "18.0.1.0.0",
    "category": "Productivity/Discuss",
    "license": "LGPL-3",
    "author": "Trail",
    "website": "https://github.com/trail-crm/trail_email_integration",
    "depends": ["mail", "contacts"],
    "external_dependencies": {
        "python": [
            "google-api-python-client",
            "google-auth",
            "msal",
            "requests",
            "lxml",
            "tnefparse",
        ],
    },
    "data": [
        "security/trail_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron.xml",
        "views/res_partner_views.xml",
        "views/trail_mail_views.xml",
        "views/trail_mailbox_views.xml",
        "views/res_users_views.xml",
        "views/trail_mailbox_microsoft_views.xml",
        "views/trail_mailbox_send_views.xml",
        "wizard/mail_compose_message_views.xml",
        "views/oauth_templates.xml",
        "security/trail_rules.xml",
        "views/res_config_settings_views.xml",
        "views/trail_capture_block_views.xml",
        "views/menus.xml",
    ],
    "assets": {
        "web.assets_backend": [
            "trail_email_integration/static/src/**/*",
        ],
        "web.assets_unit_tests": [
            "trail_email_integration/static/tests/**/*.test.js",
        ],
        "web.assets_tests": [
            "trail_email_integration/static/tests/tours/**/*",
        ],
    },
    "application": True,
}
