// etgrad/text.hpp — eg::text, the string type eg::to_string returns.
// Why not std::string: Clang (14 and 16) cannot create any std::string of libstdc++ 12 in a
// constant expression (basic_string activates its small-buffer union member in a way Clang
// rejects), so `static_assert(eg::to_string(f) == "...")` could only work on GCC. eg::text keeps its
// characters in a std::vector<char>, which both compilers evaluate at compile time, and behaves like
// a read-only std::string for the usual uses: comparison with string literals, std::string and
// std::string_view, +, printing, c_str(), find, and implicit conversion to std::string and
// std::string_view.
#pragma once

#include <compare>
#include <cstddef>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

namespace etgrad {

/// A string usable in constant expressions on every supported compiler (the result of
/// eg::to_string). Converts implicitly to std::string and std::string_view; compares with either
/// and with string literals; `c_str()` is null-terminated.
class text {
public:
    static constexpr std::size_t npos = std::string_view::npos;

    /// The empty string.
    constexpr text() { buf_.push_back('\0'); }
    /// A copy of the characters of `s`.
    constexpr explicit text(std::string_view s) {
        buf_.reserve(s.size() + 1);
        for (char ch : s) {
            buf_.push_back(ch);
        }
        buf_.push_back('\0');
    }

    /// Number of characters (without the terminating null).
    constexpr std::size_t size() const noexcept { return buf_.size() - 1; }
    /// Same as size().
    constexpr std::size_t length() const noexcept { return size(); }
    /// True if there are no characters.
    constexpr bool empty() const noexcept { return size() == 0; }
    /// The characters, null-terminated.
    constexpr const char* data() const noexcept { return buf_.data(); }
    /// The characters, null-terminated (for printf).
    constexpr const char* c_str() const noexcept { return buf_.data(); }
    /// Iterators over the characters.
    constexpr const char* begin() const noexcept { return buf_.data(); }
    constexpr const char* end() const noexcept { return buf_.data() + size(); }
    /// The i-th character.
    constexpr char operator[](std::size_t i) const noexcept { return buf_[i]; }
    /// A view of the characters.
    constexpr std::string_view view() const noexcept { return {buf_.data(), size()}; }
    /// A std::string copy.
    std::string str() const { return std::string(view()); }
    constexpr operator std::string_view() const noexcept { return view(); }
    operator std::string() const { return str(); }

    /// Position of the first occurrence of `s` at or after `pos`, or npos.
    constexpr std::size_t find(std::string_view s, std::size_t pos = 0) const noexcept {
        return view().find(s, pos);
    }
    /// True if the text contains `s`.
    constexpr bool contains(std::string_view s) const noexcept { return find(s) != npos; }
    /// True if the text begins with `s`.
    constexpr bool starts_with(std::string_view s) const noexcept { return view().starts_with(s); }
    /// True if the text ends with `s`.
    constexpr bool ends_with(std::string_view s) const noexcept { return view().ends_with(s); }

    /// Appends characters.
    constexpr text& operator+=(std::string_view s) {
        buf_.pop_back();
        for (char ch : s) {
            buf_.push_back(ch);
        }
        buf_.push_back('\0');
        return *this;
    }
    constexpr text& operator+=(const text& s) { return *this += s.view(); }
    constexpr text& operator+=(char ch) {
        buf_.back() = ch;
        buf_.push_back('\0');
        return *this;
    }

    /// Concatenation with a text, a std::string, a std::string_view or a string literal.
    friend constexpr text operator+(text a, std::string_view b) {
        a += b;
        return a;
    }
    friend constexpr text operator+(text a, const text& b) {
        a += b.view();
        return a;
    }
    friend constexpr text operator+(std::string_view a, const text& b) {
        text r(a);
        r += b.view();
        return r;
    }

    /// Comparison with a text, a std::string, a std::string_view or a string literal.
    friend constexpr bool operator==(const text& a, const text& b) noexcept { return a.view() == b.view(); }
    friend constexpr bool operator==(const text& a, std::string_view b) noexcept { return a.view() == b; }
    friend constexpr std::strong_ordering operator<=>(const text& a, const text& b) noexcept {
        return a.view() <=> b.view();
    }
    friend constexpr std::strong_ordering operator<=>(const text& a, std::string_view b) noexcept {
        return a.view() <=> b;
    }

    /// Prints the characters.
    template <class Traits>
    friend std::basic_ostream<char, Traits>& operator<<(std::basic_ostream<char, Traits>& os, const text& t) {
        return os << t.view();
    }

private:
    std::vector<char> buf_;  // the characters and a terminating '\0'
};

}  // namespace etgrad
