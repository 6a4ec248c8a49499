"""ChatSession's doors (mixins): tools, the conversation tree, pictures; the session composes them."""
