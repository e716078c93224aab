"""The shortcut battery: edits a decision should not follow, and what the features give away (speaker, lexical content)."""
