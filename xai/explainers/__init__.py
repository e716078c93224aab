"""Attribution methods: each returns an Attribution for a model, a clip and a target."""
