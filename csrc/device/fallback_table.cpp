// Per-op fallback counts and the fallback mode, behind torch_aie.fallback_stats() and
// torch_aie.set_fallback_mode().
#include "csrc/device/fallback_table.h"

#include <c10/util/Exception.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace torch_aie {
namespace {

enum class Mode : int { kSilent = 0, kWarn = 1, kRaise = 2 };
constexpr std::array<const char*, 3> kModeNames = {"silent", "warn", "raise"};

std::atomic<Mode> current_mode{Mode::kSilent};

class FallbackTable {
 public:
  // Counts one call of `op`; true if it has not been warned about since the last reset.
  bool add(const std::string& op) {
    std::lock_guard<std::mutex> lock(mutex_);
    return bump(rows_[op]);
  }

  // The same for an operator, keyed by the address of its (registered, so stable)
  // name: a call builds no string and hashes one pointer.
  bool add(const c10::OperatorHandle& op) {
    const c10::OperatorName* key = &op.operator_name();
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = by_op_.find(key);
    if (it == by_op_.end()) {
      it = by_op_.emplace(key, &rows_[c10::toString(*key)]).first;  // element addresses are stable
    }
    return bump(*it->second);
  }

  std::vector<std::pair<std::string, int64_t>> snapshot() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::pair<std::string, int64_t>> rows;
    rows.reserve(rows_.size());
    for (const auto& [name, row] : rows_) {
      rows.emplace_back(name, row.count);
    }
    std::sort(rows.begin(), rows.end());
    return rows;
  }

  void reset_counts() {
    std::lock_guard<std::mutex> lock(mutex_);
    by_op_.clear();
    rows_.clear();
  }

  // Entering "warn" mode warns afresh about every op.
  void reset_warnings() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& entry : rows_) {
      entry.second.warned = false;
    }
  }

 private:
  struct Row {
    int64_t count = 0;
    bool warned = false;
  };

  static bool bump(Row& row) {
    ++row.count;
    const bool first = !row.warned;
    row.warned = true;
    return first;
  }

  std::mutex mutex_;
  std::unordered_map<std::string, Row> rows_;
  std::unordered_map<const c10::OperatorName*, Row*> by_op_;
};

// Never destroyed: ops may still run while statics are torn down.
FallbackTable& table() {
  static auto* instance = new FallbackTable();
  return *instance;
}

std::optional<Mode> parse_mode(std::string_view name) {
  for (size_t i = 0; i < kModeNames.size(); ++i) {
    if (name == kModeNames[i]) {
      return static_cast<Mode>(i);
    }
  }
  return std::nullopt;
}

std::tuple<std::vector<std::string>, std::vector<int64_t>> fallback_counts() {
  std::vector<std::string> names;
  std::vector<int64_t> counts;
  for (auto& [name, count] : table().snapshot()) {
    names.push_back(std::move(name));
    counts.push_back(count);
  }
  return {std::move(names), std::move(counts)};
}

void set_fallback_mode(const std::string& name) {
  const std::optional<Mode> mode = parse_mode(name);
  TORCH_CHECK(mode, "unknown aie fallback mode '", name, "'; expected 'silent', 'warn' or 'raise'");
  if (*mode == Mode::kWarn) {
    table().reset_warnings();
  }
  current_mode.store(*mode);
}

std::string get_fallback_mode() {
  return kModeNames[static_cast<size_t>(current_mode.load())];
}

TORCH_LIBRARY_FRAGMENT(_aie, m) {
  m.def("fallback_counts() -> (str[], int[])", &fallback_counts);
  m.def("set_fallback_mode(str mode) -> ()", &set_fallback_mode);
  m.def("get_fallback_mode() -> str", &get_fallback_mode);
}

}  // namespace

namespace {

void check_mode_allows(const std::string& op_name, const std::string& reason, Mode mode) {
  const std::string why = reason.empty() ? std::string(" has no aie kernel and would run on the CPU")
                                         : " would run on the host CPU (" + reason + ")";
  TORCH_CHECK(
      mode != Mode::kRaise,
      op_name,
      why,
      ", which the aie fallback mode 'raise' forbids (torch_aie.set_fallback_mode('silent') or "
      "'warn' allows it)");
}

void warn_once(const std::string& op_name, const std::string& reason) {
  if (reason.empty()) {
    TORCH_WARN(
        op_name,
        " has no aie kernel: it runs on the host CPU, directly on the aie tensors' memory "
        "(fresh results are born in device memory; warned once per op; "
        "torch_aie.set_fallback_mode('silent') hides this)");
  } else {
    TORCH_WARN(op_name, " runs on the host CPU: ", reason,
               " (warned once per op; torch_aie.set_fallback_mode('silent') hides this)");
  }
}

}  // namespace

void count_fallback(const std::string& op_name, const std::string& reason) {
  const Mode mode = current_mode.load();
  if (mode == Mode::kRaise) check_mode_allows(op_name, reason, mode);
  const bool first = table().add(op_name);
  if (mode == Mode::kWarn && first) warn_once(op_name, reason);
}

void count_fallback_op(const c10::OperatorHandle& op) {
  const Mode mode = current_mode.load();
  if (mode == Mode::kRaise) check_mode_allows(c10::toString(op.operator_name()), "", mode);
  const bool first = table().add(op);
  if (mode == Mode::kWarn && first) warn_once(c10::toString(op.operator_name()), "");
}


void reset_fallback_table() { table().reset_counts(); }

}  // namespace torch_aie
