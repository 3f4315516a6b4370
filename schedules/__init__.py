"""Campaign calendar, scheduled posts, the push outbox and the scheduler process."""
