"""Row builders of the languages whose rows are built in Python from the native matcher's captures."""
