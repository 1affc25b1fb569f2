// A small strict JSON reader and string escaper for safetensors headers and
// Hugging Face config.json files. No external dependencies.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace arclight::io::json {

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

enum class Kind { Null, Bool, Int, Float, String, Array, Object };

// Integers that fit in int64 stay exact (Int); everything else numeric is a
// double (Float), because tensor offsets must never pass through a double.
struct Value {
  Kind kind = Kind::Null;
  bool b = false;
  int64_t i = 0;
  double f = 0.0;
  std::string s;
  std::vector<Value> items;
  // Keeps the file's key order; duplicate keys are rejected while parsing.
  std::vector<std::pair<std::string, Value>> members;

  const Value* find(const std::string& key) const;
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  double as_double() const { return kind == Kind::Int ? static_cast<double>(i) : f; }
};

const char* kind_name(Kind k);

// Parses exactly one JSON value; only whitespace may follow it. Nesting is
// capped (max_depth) so a hostile header cannot exhaust the stack.
Value parse(const std::string& text, int max_depth = 64);

// Appends `s` as a quoted JSON string (escapes quotes, backslashes and
// control characters; other UTF-8 passes through unchanged).
void append_quoted(std::string& out, const std::string& s);

}  // namespace arclight::io::json
