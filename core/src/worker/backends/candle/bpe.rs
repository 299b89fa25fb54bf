//! The byte-level BPE tokenizer (GPT-2 style) a GGUF file carries in its
//! metadata (`tokenizer.ggml.tokens`, `tokenizer.ggml.merges`), so a model
//! runs from its one file without a `tokenizer.json`.

use std::collections::HashMap;

/// A GPT-2 style byte-level BPE vocabulary.
#[derive(Debug)]
pub struct Bpe {
    ids: HashMap<String, u32>,
    tokens: Vec<String>,
    ranks: HashMap<(String, String), usize>,
    byte_to_char: [char; 256],
    char_to_byte: HashMap<char, u8>,
    pieces: regex::Regex,
}

/// GPT-2's map from bytes to printable characters.
fn bytes_to_unicode() -> [char; 256] {
    let mut out = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable = matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
        out[b as usize] = if printable {
            char::from(b)
        } else {
            let c = char::from_u32(256 + extra).unwrap_or('?');
            extra += 1;
            c
        };
    }
    out
}

impl Bpe {
    /// A tokenizer from a vocabulary and its merges (`"a b"`, best first).
    pub fn new(tokens: Vec<String>, merges: &[String]) -> Result<Self, String> {
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let ranks = merges
            .iter()
            .enumerate()
            .filter_map(|(rank, m)| {
                let (a, b) = m.split_once(' ')?;
                Some(((a.to_owned(), b.to_owned()), rank))
            })
            .collect();
        let byte_to_char = bytes_to_unicode();
        let char_to_byte = byte_to_char
            .iter()
            .enumerate()
            .map(|(b, c)| (*c, b as u8))
            .collect();
        // GPT-2's pre-tokenizer, digits one by one (SmolLM, Llama 3); the
        // `\s+(?!\S)` lookahead is applied by hand in `split`.
        let pieces =
            regex::Regex::new(r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}| ?[^\s\p{L}\p{N}]+|\s+")
                .map_err(|e| e.to_string())?;
        Ok(Self {
            ids,
            tokens,
            ranks,
            byte_to_char,
            char_to_byte,
            pieces,
        })
    }

    /// The vocabulary size.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty.
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    fn split<'t>(&self, text: &'t str) -> Vec<String> {
        let found: Vec<&'t str> = self.pieces.find_iter(text).map(|m| m.as_str()).collect();
        let mut out: Vec<String> = Vec::with_capacity(found.len());
        let mut carry = String::new();
        for (i, piece) in found.iter().enumerate() {
            let mut piece = format!("{carry}{piece}");
            carry.clear();
            let followed = found
                .get(i + 1)
                .is_some_and(|n| !n.starts_with(char::is_whitespace));
            if followed && piece.chars().all(char::is_whitespace) && piece.chars().count() > 1 {
                // `\s+(?!\S)`: the run's last space goes with the next word.
                if let Some(last) = piece.pop() {
                    if last == ' ' {
                        carry.push(last);
                    } else {
                        out.push(piece);
                        out.push(last.to_string());
                        continue;
                    }
                }
            }
            out.push(piece);
        }
        out
    }

    fn merge(&self, word: &str) -> Vec<String> {
        let mut parts: Vec<String> = word.chars().map(String::from).collect();
        while parts.len() > 1 {
            let best = parts
                .windows(2)
                .enumerate()
                .filter_map(|(i, w)| {
                    self.ranks
                        .get(&(w[0].clone(), w[1].clone()))
                        .map(|r| (*r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let joined = format!("{}{}", parts[i], parts[i + 1]);
            parts.splice(i..i + 2, [joined]);
        }
        parts
    }

    /// The token ids of `text`.
    pub fn encode(&self, text: &str) -> Vec<u32> {
        let mut out = Vec::new();
        for piece in self.split(text) {
            let mapped: String = piece
                .bytes()
                .map(|b| self.byte_to_char[b as usize])
                .collect();
            for part in self.merge(&mapped) {
                match self.ids.get(&part) {
                    Some(id) => out.push(*id),
                    // Every single byte is in a byte-level vocabulary; a part
                    // that is not falls back to its characters.
                    None => out.extend(
                        part.chars()
                            .filter_map(|c| self.ids.get(&c.to_string()).copied()),
                    ),
                }
            }
        }
        out
    }

    /// The bytes of one token (several tokens may make one character).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(token) = self.tokens.get(id as usize) else {
            return Vec::new();
        };
        token
            .chars()
            .map(|c| self.char_to_byte.get(&c).copied())
            .collect::<Option<Vec<u8>>>()
            // Special tokens (`<|im_end|>`) are not byte-mapped: as they are.
            .unwrap_or_else(|| token.as_bytes().to_vec())
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|id| self.token_bytes(*id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Bpe {
        let b2c = bytes_to_unicode();
        let mut tokens: Vec<String> = b2c.iter().map(|c| c.to_string()).collect();
        let sp = b2c[b' ' as usize];
        for t in [
            "he",
            "ll",
            "hell",
            "hello",
            &format!("{sp}w"),
            &format!("{sp}wo"),
        ] {
            tokens.push(t.to_owned());
        }
        let merges: Vec<String> = [
            "h e",
            "l l",
            "he ll",
            "hell o",
            &format!("{sp} w"),
            &format!("{sp}w o"),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        Bpe::new(tokens, &merges).expect("bpe")
    }

    #[test]
    fn merges_apply_by_rank_and_decoding_round_trips() {
        let bpe = toy();
        let ids = bpe.encode("hello wo");
        let hello = bpe.ids["hello"];
        assert_eq!(ids[0], hello);
        assert_eq!(ids.len(), 2, "{ids:?}");
        for text in ["hello world", "héllo  wörld\n\n 42!", "", "  x"] {
            assert_eq!(bpe.decode(&bpe.encode(text)), text);
        }
        assert_eq!(bpe.split("a  b"), vec!["a", " ", " b"]);
        assert_eq!(bpe.split("a\n\nb"), vec!["a", "\n", "\n", "b"]);
    }
}
