from datetime import datetime, timedelta

from odoo.exceptions import UserError
from odoo.tests import TransactionCase, new_test_user, tagged

from .common import ProfilesCase
from .security_common import AccessFixture
from .timeline_common import bulk_insert_mails, make_timeline_mails, timeline_mailbox

NOW = datetime(2026, 11, 20, 12, 0, 0)


@tagged("post_install", "-at_install")
class TestTimeline(ProfilesCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ada = cls.make_contact("Ada Client", "ada@example.com")
        cls.ben = cls.make_contact("Ben Client", "ben@example.com")
        cls.family = cls.make_profile(
            "Client Family", [(cls.ada, "participant"), (cls.ben, "participant")]
        )
        specs = []
        for hour in range(30):
            ada = hour % 3 != 0
            specs.append(
                {
                    "subject": f"Email {hour}",
                    # Pairs of emails share a date, so paging must break ties by id.
                    "date": NOW - timedelta(hours=hour - hour % 2),
                    "direction": "incoming" if hour % 2 else "outgoing",
                    "contact": cls.ada if ada else cls.ben,
                    "email": "ada@example.com" if ada else "ben@example.com",
                    "snippet": "pension review" if hour == 7 else "hello",
                    "others": [("Acc Ountant", "acc@numbers.example")] if hour == 4 else [],
                    "attachments": ["statement.pdf"] if hour % 10 == 5 else [],
                    "profiles": [cls.family],
                }
            )
        cls.mails = make_timeline_mails(cls.env, specs)
        cls.other_profile = cls.make_profile("Someone Else")
        make_timeline_mails(
            cls.env,
            [
                {
                    "subject": "Not this profile",
                    "date": NOW,
                    "direction": "incoming",
                    "contact": cls.ada,
                    "email": "stranger@example.com",
                    "profiles": [cls.other_profile],
                }
            ],
        )

    def timeline(self, filters=None, cursor=None, limit=40, record=None):
        return (record or self.family).trail_timeline(filters, cursor=cursor, limit=limit)

    def all_pages(self, filters=None, limit=7, record=None):
        entries, cursor, pages = [], None, 0
        while True:
            page = self.timeline(filters, cursor, limit, record)
            entries += page["entries"]
            pages += 1
            cursor = page["cursor"]
            if not cursor:
                return entries, pages

    def subjects(self, entries):
        return [entry.get("subject") for entry in entries]

    def test_newest_first_and_paged_without_gaps_or_repeats(self):
        expected = self.mails.sorted(lambda m: (m.date, m.id), reverse=True)
        entries, pages = self.all_pages(limit=7)
        self.assertEqual([e["id"] for e in entries], expected.ids)
        self.assertEqual(pages, 5)
        self.assertNotIn("Not this profile", self.subjects(entries))

    def test_entry_shows_direction_contact_others_and_attachments(self):
        entries = {e["subject"]: e for e in self.timeline()["entries"]}
        sent = entries["Email 4"]
        self.assertEqual(sent["direction"], "outgoing")
        self.assertEqual(sent["contacts"], [{"id": self.ada.id, "name": "Ada Client"}])
        self.assertEqual(
            [o["email"] for o in sent["others"]], ["adviser@firm.example", "acc@numbers.example"]
        )
        # The entry's first line: who wrote it, then to whom, the profile's contacts marked.
        self.assertEqual(
            [(p["name"], p["contact_id"]) for p in sent["senders"]], [("Alex Adviser", False)]
        )
        self.assertEqual(
            [(p["name"], p["contact_id"]) for p in sent["recipients"]],
            [("Ada Client", self.ada.id), ("Acc Ountant", False)],
        )
        received = entries["Email 5"]
        self.assertEqual(received["direction"], "incoming")
        self.assertEqual([p["contact_id"] for p in received["senders"]], [self.ada.id])
        self.assertEqual([a["name"] for a in received["attachments"]], ["statement.pdf"])
        attachment = self.env["ir.attachment"].browse(received["attachments"][0]["id"])
        self.assertEqual(attachment.raw, b"%PDF-1.4 timeline test")
        self.assertEqual(entries["Email 3"]["contacts"][0]["name"], "Ben Client")

    def test_filters(self):
        def subjects(**filters):
            return set(self.subjects(self.all_pages(filters)[0]))

        received = subjects(direction="incoming")
        self.assertEqual(received, {f"Email {h}" for h in range(30) if h % 2})
        self.assertEqual(subjects(with_attachments=True), {"Email 5", "Email 15", "Email 25"})
        self.assertEqual(
            subjects(contact_id=self.ben.id), {f"Email {h}" for h in range(30) if h % 3 == 0}
        )
        self.assertEqual(subjects(search="pension"), {"Email 7"})
        self.assertEqual(subjects(search="numbers.example"), {"Email 4"})
        day = (NOW - timedelta(days=1)).date().isoformat()
        self.assertEqual(
            subjects(date_from=day, date_to=day),
            {m.subject for m in self.mails if m.date.date().isoformat() == day},
        )
        self.assertEqual(
            subjects(direction="outgoing", with_attachments=True, contact_id=self.ada.id), set()
        )

    def test_search_reaches_the_people_and_files_an_entry_shows(self):
        def subjects(text):
            return set(self.subjects(self.all_pages({"search": text})[0]))

        self.assertEqual(subjects("statement.pdf"), {"Email 5", "Email 15", "Email 25"})
        self.assertEqual(subjects("Acc Ountant"), {"Email 4"})
        # A contact is found by their name here, whatever name the mail gave them.
        bens = {f"Email {h}" for h in range(30) if h % 3 == 0}
        written = self.mails[3].participant_ids.filtered(lambda p: p.email == "ben@example.com")
        written.sudo().name = "B. C."
        self.assertEqual(subjects("Ben Client"), bens)
        self.assertEqual(subjects("B. C."), {"Email 3"})
        # A subject of any length comes as one line's worth.
        self.mails[0].sudo().subject = "Very long " * 10000
        entry = next(e for e in self.timeline()["entries"] if e["id"] == self.mails[0].id)
        self.assertEqual(len(entry["subject"]), 300)

    def test_bad_date_is_a_clear_error(self):
        with self.assertRaisesRegex(UserError, "not a valid date"):
            self.timeline({"date_from": "20/11/2026"})
        with self.assertRaisesRegex(UserError, "needs a contact"):
            self.timeline({"contact_id": "Ada"})

    def test_damaged_cursor_is_a_clear_error(self):
        good = self.timeline(limit=2)["cursor"]
        self.assertTrue(good)
        for damaged in (
            "not a cursor",
            {"mail": "2026-11-20"},
            {"mail": ["yesterday", 5]},
            {"mail": [good["mail"][0], "5"]},
            {"mail": [good["mail"][0]]},
            {"elsewhere": good["mail"]},
        ):
            with (
                self.subTest(cursor=damaged),
                self.assertRaisesRegex(UserError, "reload the timeline"),
            ):
                self.timeline(cursor=damaged)

    def test_contacts_are_the_filter_choices(self):
        contacts = self.timeline()["contacts"]
        self.assertEqual(
            contacts,
            [{"id": self.ada.id, "name": "Ada Client"}, {"id": self.ben.id, "name": "Ben Client"}],
        )

    def test_notes_and_activities_interleave_behind_the_switch(self):
        note = self.family.message_post(
            body="Called Ada about the pension",
            message_type="comment",
            subtype_xmlid="mail.mt_note",
        )
        note.date = NOW - timedelta(hours=5, minutes=30)
        activity = self.family.activity_schedule(
            "mail.mail_activity_data_todo",
            date_deadline=(NOW + timedelta(days=3)).date(),
            summary="Send the annual review",
        )
        self.assertEqual({e["kind"] for e in self.all_pages()[0]}, {"mail"})

        entries, _pages = self.all_pages({"activities": True}, limit=4)
        kinds = [(e["kind"], e["id"]) for e in entries]
        self.assertEqual(len(kinds), len(set(kinds)))
        self.assertEqual(kinds[0], ("activity", activity.id))
        note_at = kinds.index(("note", note.id))
        self.assertEqual(entries[note_at - 1]["date"], "2026-11-20 08:00:00")
        self.assertEqual(entries[note_at + 1]["date"], "2026-11-20 06:00:00")
        self.assertEqual(entries[note_at]["text"], "Called Ada about the pension")
        self.assertEqual(entries[0]["summary"], "Send the annual review")

        # Mail-only filters leave the chatter out.
        filtered = self.all_pages({"activities": True, "direction": "incoming"})[0]
        self.assertEqual({e["kind"] for e in filtered}, {"mail"})

    def test_contact_timeline_lists_the_contacts_mail(self):
        entries = self.all_pages(record=self.ben)[0]
        self.assertEqual(
            set(self.subjects(entries)), {f"Email {h}" for h in range(30) if h % 3 == 0}
        )

    def test_reads_as_the_user(self):
        user = new_test_user(
            self.env, "timeline_user", groups="base.group_user", email="tl.user@firm.example"
        )
        page = self.family.with_user(user).trail_timeline({})
        self.assertEqual(len(page["entries"]), 30)

    def test_query_count_does_not_grow_with_the_mail(self):
        def count():
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            page = self.family.trail_timeline({"activities": True}, cursor=cursor, limit=20)
            return self.env.cr.sql_log_count - before, page

        cursor = None
        self.family.trail_timeline({"activities": True}, limit=20)  # warm the caches
        small, page = count()
        self.assertEqual(len(page["entries"]), 20)

        bulk_insert_mails(self.env, self.family, "ada@example.com", 10000, NOW - timedelta(days=2))
        large, page = count()
        self.assertEqual(len(page["entries"]), 20)
        self.assertEqual(large, small)

        # Deep in the ten thousand (where no mail has attachments, so one query fewer).
        cursor = {"mail": ["2026-01-01 00:00:00", 10**9]}
        deep, page = count()
        self.assertEqual(len(page["entries"]), 20)
        self.assertTrue(page["entries"][0]["subject"].startswith("Bulk email"))
        self.assertLessEqual(deep, small)
        self.assertLessEqual(small, 15)

    def test_query_count_as_a_colleague_does_not_grow_with_the_mail(self):
        # What a colleague may not see is worked out for the whole page at once: a page of
        # twenty costs what a page of two does, however much mail the profile holds.
        colleague = new_test_user(
            self.env, "timeline_colleague", groups="base.group_user", email="col@firm.example"
        )
        timeline_mailbox(self.env).share_level = "subject"
        family = self.family.with_user(colleague)

        def count(limit, cursor=None):
            self.env.invalidate_all()
            before = self.env.cr.sql_log_count
            page = family.trail_timeline({}, cursor=cursor, limit=limit)
            return self.env.cr.sql_log_count - before, page

        family.trail_timeline({}, limit=20)  # warm the caches
        few, page = count(2)
        self.assertEqual(len(page["entries"]), 2)
        many, page = count(20)
        self.assertEqual(len(page["entries"]), 20)
        # The page holds mail with files (Email 5, Email 15): shown without them, no error.
        self.assertTrue(all(e["content_hidden"] and not e["snippet"] for e in page["entries"]))
        self.assertFalse([e for e in page["entries"] if e["attachments"]])
        self.assertEqual(many, few)

        bulk_insert_mails(self.env, self.family, "ada@example.com", 10000, NOW - timedelta(days=2))
        large, page = count(20)
        self.assertEqual(len(page["entries"]), 20)
        self.assertEqual(large, few)
        deep, page = count(20, {"mail": ["2026-01-01 00:00:00", 10**9]})
        self.assertTrue(page["entries"][0]["subject"].startswith("Bulk email"))
        self.assertEqual(deep, few)

    def test_with_attachments_as_a_colleague_follows_the_share_level(self):
        colleague = new_test_user(
            self.env, "timeline_colleague", groups="base.group_user", email="col@firm.example"
        )
        family = self.family.with_user(colleague)
        files = {"with_attachments": True}
        self.assertEqual(
            set(self.subjects(family.trail_timeline(files)["entries"])),
            {"Email 5", "Email 15", "Email 25"},
        )
        # The mailbox (one without an owner) shares less: its mail's files are not found.
        timeline_mailbox(self.env).share_level = "subject"
        self.assertFalse(family.trail_timeline(files)["entries"])
        self.assertEqual(len(self.timeline(files)["entries"]), 3)

    def test_unlinking_an_address_takes_its_mail_off_the_timeline(self):
        bens = {f"Email {h}" for h in range(30) if h % 3 == 0}
        adas = {f"Email {h}" for h in range(30)} - bens
        by_hand = self.mails[3]  # one of Ben's, filed here by hand as well
        by_hand.action_assign_profile(self.family.ids)

        self.ben.email_address_ids.linked = False
        entries = self.all_pages()[0]
        self.assertEqual(set(self.subjects(entries)), adas | {"Email 3"})
        ben_here = self.timeline({"contact_id": self.ben.id})["entries"]
        self.assertEqual([e["id"] for e in ben_here], by_hand.ids)
        # The contact's own timeline still lists the mail of all its addresses.
        self.assertEqual(set(self.subjects(self.all_pages(record=self.ben)[0])), bens)

        self.ben.email_address_ids.linked = True
        self.assertEqual(set(self.subjects(self.all_pages()[0])), adas | bens)

    def test_shared_address_names_both_contacts(self):
        self.Address.create({"partner_id": self.ada.id, "email": "home@client.example"})
        self.Address.create({"partner_id": self.ben.id, "email": "home@client.example"})
        make_timeline_mails(
            self.env,
            [
                {
                    "subject": "From the joint mailbox",
                    "date": NOW + timedelta(hours=1),
                    "direction": "incoming",
                    "contact": self.ada,
                    "email": "home@client.example",
                    "profiles": [self.family],
                }
            ],
        )
        newest = self.timeline()["entries"][0]
        self.assertEqual(newest["subject"], "From the joint mailbox")
        self.assertEqual([c["name"] for c in newest["contacts"]], ["Ada Client", "Ben Client"])
        ben_only = self.all_pages({"contact_id": self.ben.id})[0]
        self.assertIn("From the joint mailbox", self.subjects(ben_only))


@tagged("post_install", "-at_install")
class TestTimelineShareLevels(AccessFixture, TransactionCase):
    """A colleague's timeline shows what the mailbox's share level shows them, no more.

    Ada owns the mailbox; its filed email (with a file) is in the profile's timeline, which Bob
    reads as a colleague.
    """

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.setup_access()

    def entries(self, user, **filters):
        return self.profile.with_user(user).trail_timeline(filters)["entries"]

    def entry(self, user, **filters):
        entries = self.entries(user, **filters)
        self.assertEqual([e["id"] for e in entries], self.filed.ids)
        return entries[0]

    def assert_whole(self, entry):
        self.assertEqual(entry["subject"], "Filed client question")
        self.assertEqual(entry["snippet"], "Filed body text")
        self.assertEqual([a["name"] for a in entry["attachments"]], ["filed.pdf"])
        self.assertFalse(entry["content_hidden"])
        self.assertFalse(entry["subject_hidden"])

    def test_full_share_shows_everything(self):
        self.assert_whole(self.entry(self.bob))
        self.assert_whole(self.entry(self.bob, with_attachments=True))
        self.assert_whole(self.entry(self.bob, search="Filed body"))

    def test_subject_share_shows_the_subject_without_the_content(self):
        self.mailbox.share_level = "subject"
        entry = self.entry(self.bob)
        self.assertEqual(entry["subject"], "Filed client question")
        self.assertEqual(entry["snippet"], "")
        self.assertEqual(entry["attachments"], [])
        self.assertTrue(entry["content_hidden"])
        self.assertFalse(entry["subject_hidden"])
        # The same as the email's own read shows.
        values = self.filed.with_user(self.bob).read(["subject", "snippet", "attachment_ids"])[0]
        self.assertEqual(values["subject"], entry["subject"])
        self.assertFalse(values["snippet"])
        self.assertEqual(values["attachment_ids"], entry["attachments"])
        # Who wrote it and when are metadata: still shown.
        self.assertEqual([p["email"] for p in entry["senders"]], ["filed.client@example.com"])
        self.assertTrue(entry["date"])

    def test_metadata_share_hides_the_subject_too(self):
        self.mailbox.share_level = "metadata"
        entry = self.entry(self.bob)
        self.assertEqual(entry["subject"], "")
        self.assertEqual(entry["snippet"], "")
        self.assertEqual(entry["attachments"], [])
        self.assertTrue(entry["content_hidden"])
        self.assertTrue(entry["subject_hidden"])
        self.assertFalse(self.filed.with_user(self.bob).read(["subject"])[0]["subject"])
        # The component shows the wording of the email's display name for such mail.
        self.assertEqual(self.filed.with_user(self.bob).display_name, "Restricted email")
        self.assertEqual([p["email"] for p in entry["senders"]], ["filed.client@example.com"])

    def test_the_owner_sees_everything_at_every_level(self):
        for level in ("subject", "metadata"):
            self.mailbox.share_level = level
            with self.subTest(level=level):
                self.assert_whole(self.entry(self.ada))
                self.assert_whole(self.entry(self.ada, with_attachments=True))
                self.assert_whole(self.entry(self.ada, search="Filed body"))
                self.assert_whole(self.entry(self.ada, search="client question"))
                self.assert_whole(self.entry(self.ada, search="filed.pdf"))

    def test_search_and_filters_do_not_reveal_what_is_hidden(self):
        self.mailbox.share_level = "subject"
        # Neither the text, nor the files, nor whether there are files find it...
        self.assertFalse(self.entries(self.bob, search="Filed body"))
        self.assertFalse(self.entries(self.bob, search="filed.pdf"))
        self.assertFalse(self.entries(self.bob, with_attachments=True))
        # ... what the entry shows does.
        self.entry(self.bob, search="client question")
        self.entry(self.bob, search="filed.client@example.com")

        self.mailbox.share_level = "metadata"
        self.assertFalse(self.entries(self.bob, search="client question"))
        self.assertFalse(self.entries(self.bob, search="Filed body"))
        self.entry(self.bob, search="filed.client@example.com")
