"""Post-treatment aftercare reminders: plan, store and send them on time, once."""
