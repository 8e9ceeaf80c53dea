"""Opt-in survey invitations: campaigns, the outbox sender, the scheduler and admin tools."""
