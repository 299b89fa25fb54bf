//! The Godot classes: thin adapters over the engine-free [`crate::logic`]
//! and [`crate::presets`]. Nothing here decides what is sent to the horde;
//! it converts between Godot values and plain Rust ones.

mod enums;
mod info;
mod node;
mod params;
mod variant;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// The classes gdext registered (before `main`, through its shard
    /// registry — not public API, hence the pinned gdext), by name.
    fn registered() -> BTreeSet<String> {
        let shards = godot::private::__GODOT_SHARD_REGISTRY
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let debug = format!("{:?}", *shards);
        debug
            .split("class_name: ClassId(\"")
            .skip(1)
            .filter_map(|rest| rest.split('"').next())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn every_class_is_registered_with_gdext() {
        let names = registered();
        for class in [
            "HordeNode",
            "HordeImageParams",
            "HordeTextParams",
            "HordeResultInfo",
        ] {
            assert!(
                names.contains(class),
                "{class} is not registered: {names:?}"
            );
        }
    }
}
