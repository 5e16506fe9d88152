// Signal names and thread names (declared in core/process.hpp).
#include <signal.h>
#include <sys/prctl.h>

#include <string>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <tuple>

#include "core/ascii.hpp"
#include "core/process.hpp"

namespace tender {

// ---------------------------------------------------------------------------------------------
// Signal names

namespace {

struct SignalEntry {
  int number;
  const char* name;  // without "SIG"
};

constexpr SignalEntry kSignals[] = {
    {SIGHUP, "HUP"},       {SIGINT, "INT"},       {SIGQUIT, "QUIT"}, {SIGILL, "ILL"},
    {SIGTRAP, "TRAP"},     {SIGABRT, "ABRT"},     {SIGBUS, "BUS"},   {SIGFPE, "FPE"},
    {SIGKILL, "KILL"},     {SIGUSR1, "USR1"},     {SIGSEGV, "SEGV"}, {SIGUSR2, "USR2"},
    {SIGPIPE, "PIPE"},     {SIGALRM, "ALRM"},     {SIGTERM, "TERM"},
#ifdef SIGSTKFLT
    {SIGSTKFLT, "STKFLT"},
#endif
    {SIGCHLD, "CHLD"},     {SIGCONT, "CONT"},     {SIGSTOP, "STOP"}, {SIGTSTP, "TSTP"},
    {SIGTTIN, "TTIN"},     {SIGTTOU, "TTOU"},     {SIGURG, "URG"},   {SIGXCPU, "XCPU"},
    {SIGXFSZ, "XFSZ"},     {SIGVTALRM, "VTALRM"}, {SIGPROF, "PROF"}, {SIGWINCH, "WINCH"},
    {SIGIO, "IO"},
#ifdef SIGPWR
    {SIGPWR, "PWR"},
#endif
    {SIGSYS, "SYS"},
};

// Accepted by parse_signal() only; signal_name() prints the names above.
constexpr SignalEntry kSignalAliases[] = {
    {SIGABRT, "IOT"},
    {SIGIO, "POLL"},
    {SIGCHLD, "CLD"},
};

std::optional<int> parse_number(std::string_view text) {
  int value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) {
    return std::nullopt;
  }
  return value;
}

}  // namespace

void name_this_thread(const std::string& name) {
  ::prctl(PR_SET_NAME, name.substr(0, 15).c_str(), 0, 0, 0);
}

std::string signal_name(int sig) {
  for (const SignalEntry& entry : kSignals) {
    if (entry.number == sig) {
      return std::string("SIG") + entry.name;
    }
  }
  if (sig == SIGRTMAX) {
    return "SIGRTMAX";
  }
  if (sig == SIGRTMIN) {
    return "SIGRTMIN";
  }
  if (sig > SIGRTMIN && sig < SIGRTMAX) {
    return "SIGRTMIN+" + std::to_string(sig - SIGRTMIN);
  }
  return "SIG" + std::to_string(sig);
}

std::optional<int> parse_signal(std::string_view text) {
  const std::string upper = ascii_upper(text);
  std::string_view name = upper;

  const auto in_range = [](int sig) -> std::optional<int> {
    if (sig >= 1 && sig <= SIGRTMAX) {
      return sig;
    }
    return std::nullopt;
  };
  if (!name.empty() && std::isdigit(static_cast<unsigned char>(name.front()))) {
    if (auto number = parse_number(name)) {
      return in_range(*number);
    }
    return std::nullopt;
  }
  if (name.substr(0, 3) == "SIG") {
    name.remove_prefix(3);
    if (auto number = parse_number(name)) {  // "SIG40", as signal_name() prints unnamed ones
      return in_range(*number);
    }
  }
  for (const SignalEntry& entry : kSignals) {
    if (name == entry.name) {
      return entry.number;
    }
  }
  for (const SignalEntry& entry : kSignalAliases) {
    if (name == entry.name) {
      return entry.number;
    }
  }
  // SIGRTMIN, SIGRTMIN+n, SIGRTMAX, SIGRTMAX-n; the result must stay within the real-time range.
  for (const auto& [prefix, base, sign] : {std::tuple{std::string_view("RTMIN"), SIGRTMIN, 1},
                                           std::tuple{std::string_view("RTMAX"), SIGRTMAX, -1}}) {
    if (name.substr(0, prefix.size()) != prefix) {
      continue;
    }
    std::string_view offset_text = name.substr(prefix.size());
    if (offset_text.empty()) {
      return base;
    }
    if (offset_text.front() != (sign > 0 ? '+' : '-')) {
      return std::nullopt;
    }
    offset_text.remove_prefix(1);
    const std::optional<int> offset = parse_number(offset_text);
    if (!offset || *offset < 0 || *offset > SIGRTMAX - SIGRTMIN) {
      return std::nullopt;
    }
    return base + sign * *offset;
  }
  return std::nullopt;
}

}  // namespace tender
