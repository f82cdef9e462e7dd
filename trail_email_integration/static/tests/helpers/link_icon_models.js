/** Mock models shared by the link-icon unit tests: contacts, profiles and their addresses. */
import { fields, models } from "@web/../tests/web_test_helpers";

export class TrailEmailAddress extends models.Model {
    _name = "trail.email.address";

    email = fields.Char();
    linked = fields.Boolean();
    contact_id = fields.Many2one({ relation: "trail.contact" });
    member_id = fields.Many2one({ relation: "trail.member" });

    _records = [
        { id: 1, email: "clara@example.com", linked: true, contact_id: 1, member_id: 1 },
        { id: 2, email: "clara.home@example.net", linked: false, contact_id: 1, member_id: 1 },
    ];
}

export class TrailContact extends models.Model {
    _name = "trail.contact";

    name = fields.Char();
    address_ids = fields.One2many({ relation: "trail.email.address", relation_field: "contact_id" });

    _records = [{ id: 1, name: "Clara Client", address_ids: [1, 2] }];
}

export class TrailMember extends models.Model {
    _name = "trail.member";

    name = fields.Char();
    profile_id = fields.Many2one({ relation: "trail.profile" });
    address_ids = fields.One2many({ relation: "trail.email.address", relation_field: "member_id" });

    _records = [{ id: 1, name: "Clara Client", profile_id: 1, address_ids: [1, 2] }];
}

export class TrailProfile extends models.Model {
    _name = "trail.profile";

    name = fields.Char();
    member_ids = fields.One2many({ relation: "trail.member", relation_field: "profile_id" });

    _records = [{ id: 1, name: "Client Family", member_ids: [1] }];
}

export const linkIconModels = [TrailEmailAddress, TrailContact, TrailMember, TrailProfile];
