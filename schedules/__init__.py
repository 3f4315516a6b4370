"""Campaign calendar (Gregorian and lunar key dates), scheduler and push outbox."""
