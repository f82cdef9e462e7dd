"""Builders for the timeline's tests: captured mail filed into a profile, made in batches."""

import base64
import uuid

OWNER = "adviser@firm.example"


def timeline_mailbox(env):
    """The adviser's mailbox the mail was captured from (access rules follow it)."""
    Mailbox = env["trail.mailbox"].sudo()
    return Mailbox.search([("address", "=", OWNER)], limit=1) or Mailbox.create(
        {"address": OWNER, "provider": "google", "state": "active"}
    )


def make_timeline_mails(env, specs):
    """Create captured mail from ``specs`` in one batch; return the records in ``specs`` order.

    Each spec is a dict with ``subject``, ``date``, ``direction`` (``incoming``/``outgoing``),
    ``contact`` (a partner), ``email`` (the contact's address), and optionally ``snippet``,
    ``others`` (``[(name, email)]``), ``attachments`` (file names) and ``profiles`` (the
    profiles the filing rule put it in).
    """
    Attachment = env["ir.attachment"]
    mailbox = timeline_mailbox(env)
    values, files_per_mail = [], []
    for index, spec in enumerate(specs):
        contact = (spec["contact"].name, spec["email"])
        owner = ("Alex Adviser", OWNER)
        sender, receiver = (owner, contact) if spec["direction"] == "outgoing" else (contact, owner)
        participants = [("from", *sender), ("to", *receiver)]
        participants += [("cc", name, email) for name, email in spec.get("others", ())]
        files = Attachment.create(
            [
                {
                    "name": name,
                    "raw": b"%PDF-1.4 timeline test",
                    "mimetype": "application/pdf",
                    "res_model": "trail.mail",
                }
                for name in spec.get("attachments", ())
            ]
        )
        files_per_mail.append(files)
        values.append(
            {
                "message_id": f"<timeline-{index}-{spec['date'].timestamp()}@example.com>",
                "content_digest": base64.b16encode(f"{index}{spec['subject']}".encode()).decode(),
                "subject": spec["subject"],
                "date": spec["date"],
                "direction": spec["direction"],
                "snippet": spec.get("snippet", ""),
                "email_from": f"{sender[0]} <{sender[1]}>",
                "email_to": f"{receiver[0]} <{receiver[1]}>",
                "attachment_count": len(files),
                "attachment_ids": [(6, 0, files.ids)],
                "auto_profile_ids": [(6, 0, [p.id for p in spec.get("profiles", ())])],
                "auto_contact_ids": [(6, 0, [spec["contact"].id])],
                "participant_ids": [
                    (0, 0, {"header": header, "name": name, "email": email})
                    for header, name, email in participants
                ],
                "location_ids": [
                    (0, 0, {"mailbox_id": mailbox.id, "provider_id": uuid.uuid4().hex})
                ],
            }
        )
    mails = env["trail.mail"].create(values)
    for mail, files in zip(mails, files_per_mail, strict=True):
        if files:
            files.res_id = mail.id
    return mails


def bulk_insert_mails(env, profile, email, count, newest):
    """Insert ``count`` mails filed into ``profile`` with SQL, each an hour older than the last.

    For volume tests only: it writes the rows the timeline reads and nothing else.
    """
    mailbox = timeline_mailbox(env)
    env.flush_all()
    env.cr.execute(
        """
        WITH new AS (
            INSERT INTO trail_mail (message_id, content_digest, subject, date, direction,
                                    snippet, email_from, attachment_count, profile_count,
                                    filing_state, create_date, write_date)
            SELECT '<bulk-' || n || '@example.com>', 'bulk' || n, 'Bulk email ' || n,
                   %(newest)s::timestamp - n * interval '1 hour',
                   CASE WHEN n %% 2 = 0 THEN 'incoming' ELSE 'outgoing' END,
                   'Bulk snippet ' || n, %(email)s, 0, 1, 'filed', now(), now()
              FROM generate_series(1, %(count)s) AS n
            RETURNING id
        ), rel AS (
            INSERT INTO trail_mail_profile_rel (mail_id, profile_id)
            SELECT id, %(profile)s FROM new
        ), location AS (
            INSERT INTO trail_mail_location (mail_id, mailbox_id, provider_id)
            SELECT id, %(mailbox)s, 'bulk-' || id FROM new
        )
        INSERT INTO trail_mail_participant (mail_id, header, email, name)
        SELECT id, header, address, ''
          FROM new, (VALUES ('from', %(email)s), ('to', %(owner)s)) AS p (header, address)
        """,
        {
            "newest": newest,
            "count": count,
            "profile": profile.id,
            "email": email,
            "owner": OWNER,
            "mailbox": mailbox.id,
        },
    )
    # Fresh planner statistics, as autovacuum keeps them on a real database: here it may last
    # have seen these tables empty (earlier runs roll back), and a plan made for a handful of
    # rows over 10,000 took minutes in one CI run. ANALYZE counts this transaction's own rows.
    env.cr.execute(
        "ANALYZE trail_mail, trail_mail_location, trail_mail_participant, "
        "trail_mail_profile_rel, trail_mailbox"
    )
    env.invalidate_all()
