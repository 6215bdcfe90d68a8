"""Privacy helpers: masking personal data in call transcripts before they are stored or exported."""
