//! JSON ↔ Variant: the horde's objects (models, users, jobs, interrogation
//! results) become Dictionaries and Arrays; a game's form answer goes back
//! as JSON through Godot's own `JSON.stringify`.

use godot::builtin::{GString, VarArray, VarDictionary, Variant};
use godot::classes::Json;
use godot::meta::ToGodot;
use serde_json::Value;

/// A JSON value as the Variant GDScript expects (objects → Dictionary,
/// arrays → Array, integers → int, other numbers → float).
pub fn from_json(value: &Value) -> Variant {
    match value {
        Value::Null => Variant::nil(),
        Value::Bool(b) => b.to_variant(),
        Value::Number(n) => match n.as_i64() {
            Some(i) => i.to_variant(),
            None => n.as_f64().unwrap_or(f64::NAN).to_variant(),
        },
        Value::String(s) => GString::from(s.as_str()).to_variant(),
        Value::Array(items) => {
            let mut array = VarArray::new();
            for item in items {
                array.push(&from_json(item));
            }
            array.to_variant()
        }
        Value::Object(fields) => dictionary(fields).to_variant(),
    }
}

/// A JSON object as a Dictionary (anything else: an empty one).
pub fn dictionary_of(value: &Value) -> VarDictionary {
    match value {
        Value::Object(fields) => dictionary(fields),
        _ => VarDictionary::new(),
    }
}

fn dictionary(fields: &serde_json::Map<String, Value>) -> VarDictionary {
    let mut dict = VarDictionary::new();
    for (k, v) in fields {
        dict.set(&GString::from(k.as_str()).to_variant(), &from_json(v));
    }
    dict
}

/// A Variant as JSON, through Godot's `JSON.stringify` (which knows every
/// Variant type); an error for values JSON cannot hold.
pub fn to_json(value: &Variant) -> Result<Value, String> {
    let text = Json::stringify(value).to_string();
    serde_json::from_str(&text).map_err(|e| format!("the value is not JSON-serialisable: {e}"))
}
