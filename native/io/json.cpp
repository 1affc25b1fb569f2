// Strict JSON (RFC 8259) recursive-descent parser: rejects trailing commas,
// comments, leading zeros, lone surrogates, raw control characters and
// duplicate object keys, and reports the byte offset of the first problem.
#include "json.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace arclight::io::json {

const Value* Value::find(const std::string& key) const {
  for (const auto& m : members)
    if (m.first == key) return &m.second;
  return nullptr;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Null:
      return "null";
    case Kind::Bool:
      return "boolean";
    case Kind::Int:
      return "integer";
    case Kind::Float:
      return "number";
    case Kind::String:
      return "string";
    case Kind::Array:
      return "array";
    case Kind::Object:
      return "object";
  }
  return "?";
}

// ----------------------------------------------------------------------------
// parser

namespace {

class Parser {
 public:
  Parser(const std::string& t, int max_depth) : t_(t), max_depth_(max_depth) {}

  Value parse_document() {
    skip_ws();
    Value v = parse_value(0);
    skip_ws();
    if (p_ != t_.size()) fail("unexpected trailing characters");
    return v;
  }

 private:
  const std::string& t_;
  size_t p_ = 0;
  int max_depth_;

  [[noreturn]] void fail(const std::string& what) const {
    throw ParseError("invalid JSON at byte " + std::to_string(p_) + ": " + what);
  }

  void skip_ws() {
    while (p_ < t_.size() && (t_[p_] == ' ' || t_[p_] == '\t' || t_[p_] == '\n' || t_[p_] == '\r')) ++p_;
  }

  char peek() const { return p_ < t_.size() ? t_[p_] : '\0'; }

  void expect_literal(const char* lit) {
    size_t n = std::strlen(lit);
    if (t_.compare(p_, n, lit) != 0) fail(std::string("expected '") + lit + "'");
    p_ += n;
  }

  Value parse_value(int depth) {
    if (depth > max_depth_) fail("nesting deeper than " + std::to_string(max_depth_));
    if (p_ >= t_.size()) fail("unexpected end of input");
    Value v;
    switch (t_[p_]) {
      case '{':
        parse_object(v, depth);
        break;
      case '[':
        parse_array(v, depth);
        break;
      case '"':
        v.kind = Kind::String;
        v.s = parse_string();
        break;
      case 't':
        expect_literal("true");
        v.kind = Kind::Bool;
        v.b = true;
        break;
      case 'f':
        expect_literal("false");
        v.kind = Kind::Bool;
        v.b = false;
        break;
      case 'n':
        expect_literal("null");
        v.kind = Kind::Null;
        break;
      default:
        if (t_[p_] == '-' || (t_[p_] >= '0' && t_[p_] <= '9'))
          parse_number(v);
        else
          fail(std::string("unexpected character '") + t_[p_] + "'");
    }
    return v;
  }

  void parse_object(Value& v, int depth) {
    v.kind = Kind::Object;
    ++p_;
    skip_ws();
    if (peek() == '}') {
      ++p_;
      return;
    }
    for (;;) {
      skip_ws();
      if (peek() != '"') fail("expected a string key");
      size_t key_at = p_;
      std::string key = parse_string();
      for (const auto& m : v.members)
        if (m.first == key) {
          p_ = key_at;
          fail("duplicate key \"" + key + "\"");
        }
      skip_ws();
      if (peek() != ':') fail("expected ':'");
      ++p_;
      skip_ws();
      v.members.emplace_back(std::move(key), parse_value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() == '}') {
        ++p_;
        return;
      }
      fail("expected ',' or '}'");
    }
  }

  void parse_array(Value& v, int depth) {
    v.kind = Kind::Array;
    ++p_;
    skip_ws();
    if (peek() == ']') {
      ++p_;
      return;
    }
    for (;;) {
      skip_ws();
      v.items.push_back(parse_value(depth + 1));
      skip_ws();
      if (peek() == ',') {
        ++p_;
        continue;
      }
      if (peek() == ']') {
        ++p_;
        return;
      }
      fail("expected ',' or ']'");
    }
  }

  unsigned hex4() {
    if (p_ + 4 > t_.size()) fail("truncated \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      char c = t_[p_++];
      u <<= 4;
      if (c >= '0' && c <= '9')
        u |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f')
        u |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F')
        u |= unsigned(c - 'A' + 10);
      else
        fail("bad hex digit in \\u escape");
    }
    return u;
  }

  static void put_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80)
      out += char(cp);
    else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  std::string parse_string() {
    ++p_;  // opening quote
    std::string out;
    for (;;) {
      if (p_ >= t_.size()) fail("unterminated string");
      unsigned char c = static_cast<unsigned char>(t_[p_]);
      if (c == '"') {
        ++p_;
        return out;
      }
      if (c < 0x20) fail("raw control character in string");
      if (c != '\\') {
        out += char(c);
        ++p_;
        continue;
      }
      ++p_;
      if (p_ >= t_.size()) fail("unterminated escape");
      char e = t_[p_++];
      switch (e) {
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'n':
          out += '\n';
          break;
        case 'r':
          out += '\r';
          break;
        case 't':
          out += '\t';
          break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xDC00 && cp <= 0xDFFF) fail("lone low surrogate in \\u escape");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (p_ + 2 > t_.size() || t_[p_] != '\\' || t_[p_ + 1] != 'u')
              fail("high surrogate without a low surrogate");
            p_ += 2;
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("high surrogate without a low surrogate");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          }
          put_utf8(out, cp);
          break;
        }
        default:
          p_--;
          fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  void parse_number(Value& v) {
    size_t start = p_;
    bool integral = true;
    if (peek() == '-') ++p_;
    if (peek() == '0') {
      ++p_;
      if (peek() >= '0' && peek() <= '9') fail("leading zero in number");
    } else if (peek() >= '1' && peek() <= '9') {
      while (peek() >= '0' && peek() <= '9') ++p_;
    } else {
      fail("expected a digit");
    }
    if (peek() == '.') {
      integral = false;
      ++p_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit after '.'");
      while (peek() >= '0' && peek() <= '9') ++p_;
    }
    if (peek() == 'e' || peek() == 'E') {
      integral = false;
      ++p_;
      if (peek() == '+' || peek() == '-') ++p_;
      if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit in exponent");
      while (peek() >= '0' && peek() <= '9') ++p_;
    }
    std::string text = t_.substr(start, p_ - start);
    if (integral) {
      errno = 0;
      char* end = nullptr;
      long long x = std::strtoll(text.c_str(), &end, 10);
      if (errno != ERANGE && end == text.c_str() + text.size()) {
        v.kind = Kind::Int;
        v.i = x;
        v.f = static_cast<double>(x);
        return;
      }
      // Out of int64 range: keep it as a double, so callers that need an
      // exact integer see a Float and reject it.
    }
    v.kind = Kind::Float;
    v.f = std::strtod(text.c_str(), nullptr);
  }
};

}  // namespace

Value parse(const std::string& text, int max_depth) { return Parser(text, max_depth).parse_document(); }

// ----------------------------------------------------------------------------
// writer

void append_quoted(std::string& out, const std::string& s) {
  static const char hex[] = "0123456789abcdef";
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out += hex[c >> 4];
          out += hex[c & 15];
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

}  // namespace arclight::io::json
