"""Table definitions (SQLAlchemy Core). Alembic migrations in storage/migrations create them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

# The largest value an INTEGER column holds on both databases: PostgreSQL's INTEGER is 32-bit, the
# narrower of the two (SQLite stores up to 2**63 - 1), so a number checked against it never overflows.
DB_INT_MAX = 2**31 - 1

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A person as seen by one channel; `pseudonym` is what exports show instead of the messenger id.
respondents = Table(
    "respondents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("pseudonym", String(32), nullable=False, unique=True),
    Column("channel", String(16), nullable=False),
    Column("external_id", String(64), nullable=False),
    Column("name", String(200)),
    Column("dialog", JSON, nullable=False, default=dict),  # channel-neutral dialog phase
    Column("unreachable_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("channel", "external_id", name="uq_respondents_channel_external"),
)

# One filling-in of the questionnaire. Status: in_progress, completed, abandoned.
survey_sessions = Table(
    "survey_sessions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("respondent_id", Integer, ForeignKey("respondents.id")),  # NULL for paper forms
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(16), nullable=False),  # direct, qr, letter, campaign, paper
    Column("source_ref", String(64)),  # prefill key or campaign id
    Column("prefill", JSON, nullable=False, default=dict),
    Column("questionnaire_version", String(64), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("completed_at", DateTime(timezone=True)),
    Index("ix_survey_sessions_respondent_status", "respondent_id", "status"),
    Index("ix_survey_sessions_completed_at", "completed_at"),
)

# One row per answered question, with both numbers of the question and of the option.
answers = Table(
    "answers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("survey_sessions.id", ondelete="CASCADE"), nullable=False),
    Column("question_code", String(8), nullable=False),
    Column("platform_code", String(8), nullable=False),
    Column("option_code", String(64), nullable=False),
    Column("option_platform_code", String(64), nullable=False),
    Column("value_text", Text, nullable=False),  # the option's label or the typed «Другое» text
    Column("followup_text", Text),
    # «Пропустить» chosen for the follow-up: no text, and the question is not asked again.
    Column("followup_skipped", Boolean, nullable=False, default=False, server_default=false()),
    Column("prefilled", Boolean, nullable=False, default=False),
    Column("answered_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("session_id", "question_code", name="uq_answers_session_question"),
)

# Short keys for deep links and QR codes: prefill of Block 1 and the source of the answers.
prefill_keys = Table(
    "prefill_keys",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("values", JSON, nullable=False),  # question code -> option code
    Column("source", String(16), nullable=False),  # qr, letter, campaign
    Column("label", String(200), nullable=False, default=""),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# The consent register: every grant, refusal, withdrawal and erasure, never updated in place.
# `kind` is one of storage.repository.ConsentKind; `granted` is true exactly for kind `granted`
# (the mailing audience selects on it). `purpose` is one of storage.repository.ConsentPurpose:
# each purpose has its own history, and the latest record of a purpose decides for it.
consents = Table(
    "consents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("respondent_id", Integer, ForeignKey("respondents.id"), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("purpose", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("text_version", String(32), nullable=False),
    Column("method", String(16), nullable=False),  # bot, staff, erasure
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("recorded_by", String(64)),
    Index("ix_consents_respondent", "respondent_id", "id"),
    Index("ix_consents_purpose_respondent", "purpose", "respondent_id", "id"),
)

# Updates/events already handled, so a re-delivered one is processed once. Update ids are
# numbered per bot (Telegram) or per community (VK): `bot` keeps another bot's ids apart.
processed_updates = Table(
    "processed_updates",
    metadata,
    Column("channel", String(16), primary_key=True),
    Column("bot", String(32), primary_key=True, server_default=""),
    Column("update_id", String(64), primary_key=True),
    Column("processed_at", DateTime(timezone=True), nullable=False),
)

# Updates/events that could not be parsed or handled: kept whole for an operator
# (`otklik dead-letters`), so the channel can move on past them without losing them.
dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("channel", String(16), nullable=False),
    Column("bot", String(32), nullable=False),
    Column("update_id", String(64)),  # when the raw update names one
    Column("raw", Text, nullable=False),  # the update as received (JSON text)
    Column("error", Text, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_dead_letters_received_at", "received_at"),
)

# Small durable key/value state of channels (e.g. VK long-poll ts).
channel_state = Table(
    "channel_state",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Appendix 2: clients who interacted with the ministry in a quarter, entered by staff per unit,
# process group and channel (online/offline). A missing row means "not entered", never zero.
client_totals = Table(
    "client_totals",
    metadata,
    Column("quarter", String(8), primary_key=True),  # 2025Q3
    Column("unit", String(64), primary_key=True),  # option code of question 3
    Column("process_group", String(200), primary_key=True),
    Column("channel", String(16), primary_key=True),  # online, offline
    Column("total", Integer, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("updated_by", String(64)),
)

# --- mailings ------------------------------------------------------------------------------

# A survey-invitation campaign. Status: scheduled, running, paused, done, cancelled, missed.
# The table is the scheduler's source of truth: jobs are rebuilt from it at every start.
campaigns = Table(
    "campaigns",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("status", String(16), nullable=False),
    Column("channel", String(16), nullable=False),
    Column("text", Text, nullable=False),  # may contain {name}
    Column("audience", JSON, nullable=False),  # filters, see bot/mailing/audience.py
    Column("prefill_key", String(64), nullable=False),  # prefill_keys.key of the survey button
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_by", String(64), nullable=False),  # "tg:<id>" or "cli:<user>"
    Column("notify_chat", String(64)),  # Telegram chat that sees the progress
    Column("progress_message_id", Integer),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("note", Text),  # why it was missed / cancelled
    Index("ix_campaigns_status", "status"),
)

# One invitation per (campaign, respondent). Status: pending, sending, sent, failed, unreachable,
# skipped_no_consent, skipped_recent, unknown (caught mid-send by a crash: never resent).
outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("campaign_id", Integer, ForeignKey("campaigns.id"), nullable=False),
    Column("respondent_id", Integer, ForeignKey("respondents.id"), nullable=False),
    Column("status", String(24), nullable=False),
    Column("claimed_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("message_id", String(32)),
    Column("error", Text),
    UniqueConstraint("campaign_id", "respondent_id", name="uq_outbox_campaign_respondent"),
    Index("ix_outbox_campaign_status", "campaign_id", "status"),
    Index("ix_outbox_respondent_claimed", "respondent_id", "claimed_at"),
)

# At most one reminder per unfinished survey session (same statuses as the outbox).
reminders = Table(
    "reminders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", Integer, ForeignKey("survey_sessions.id"), nullable=False, unique=True),
    Column("respondent_id", Integer, ForeignKey("respondents.id"), nullable=False),
    Column("status", String(24), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Column("error", Text),
)

# --- paper forms ------------------------------------------------------------------------------

# The fingerprint of each paper questionnaire (its answers and date), so importing the same forms
# again is caught. Not unique: a real second form with the same answers may be stored on purpose.
paper_forms = Table(
    "paper_forms",
    metadata,
    Column(
        "session_id",
        Integer,
        ForeignKey("survey_sessions.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("fingerprint", String(64), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Index("ix_paper_forms_fingerprint", "fingerprint"),
)

# --- cases: the ministry answers a respondent who had difficulties ----------------------------

# One case per questionnaire whose respondent agreed to be answered. The id is the number staff
# see («Обращение № 12»); the respondent is reached through the session, never stored here.
# Status: storage.cases.CaseStatus; closed_by: storage.cases.ClosedBy.
cases = Table(
    "cases",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "session_id",
        Integer,
        ForeignKey("survey_sessions.id", ondelete="CASCADE"),
        nullable=False,
        unique=True,
    ),
    Column("unit", String(64), nullable=False),  # option code of question 3
    Column("channel", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("deadline_at", DateTime(timezone=True), nullable=False),
    Column("first_answer_at", DateTime(timezone=True)),
    Column("last_message_at", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Column("closed_by", String(16)),
    Column("closed_by_staff", String(64)),  # audit only, never shown with the case
    # The case's root message in the unit's staff chat: the thread relayed replies answer to.
    Column("unit_chat", String(64)),
    Column("thread_message_id", String(32)),
    Column("overdue_reminded_at", DateTime(timezone=True)),  # one overdue reminder per case
    Index("ix_cases_unit_status", "unit", "status"),
    Index("ix_cases_status_deadline", "status", "deadline_at"),
    Index("ix_cases_opened_at", "opened_at"),
    Index("ix_cases_unit_chat_thread", "unit_chat", "thread_message_id"),
)

# The thread of a case. Direction and delivery: storage.cases.Direction and Delivery. `text` is
# NULL once erased on request; `staff` (who wrote an answer) is kept for audit only.
case_messages = Table(
    "case_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("case_id", Integer, ForeignKey("cases.id", ondelete="CASCADE"), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("text", Text),
    Column("delivery", String(16), nullable=False),
    Column("staff", String(64)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True)),
    Column("message_ref", String(32)),  # the messenger's id of the delivered or received message
    Column("error", Text),
    Index("ix_case_messages_case", "case_id", "id"),
)
