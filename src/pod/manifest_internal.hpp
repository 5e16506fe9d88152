#pragma once
// Pieces of the manifest parser shared by its files (manifest_parser.hpp), env.cpp,
// security.cpp and volume_files.cpp. Not a public header.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.hpp"
#include "pod/manifest.hpp"

namespace tender::pod {

inline constexpr std::int64_t kMaxSeconds = 2'147'483'647;  // Kubernetes' int32 second fields

// ---- Kubernetes name syntax (manifest_values.cpp) --------------------------------------------

// RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, at most 63 characters.
[[nodiscard]] bool is_dns_label(std::string_view s);
// RFC 1123 subdomain: labels joined by '.', at most 253 characters.
[[nodiscard]] bool is_dns_subdomain(std::string_view s);
// IANA service name, as Kubernetes port names.
[[nodiscard]] bool is_port_name(std::string_view s);
// A label value: empty, or up to 63 of [A-Za-z0-9-_.] starting and ending alphanumeric.
[[nodiscard]] bool is_label_value(std::string_view s);
// A label or annotation key: an optional DNS subdomain prefix and '/', then a name.
[[nodiscard]] bool is_qualified_name(std::string_view s);
// Kubernetes' relaxed environment variable names: printable ASCII except '='.
[[nodiscard]] bool is_env_name(std::string_view s);
[[nodiscard]] bool is_http_token(std::string_view s);
// Whether a path has a ".." element.
[[nodiscard]] bool has_backstep(std::string_view path);
// A key of a ConfigMap or Secret: at most 253 of [-._a-zA-Z0-9], not "." and not starting "..".
[[nodiscard]] bool is_config_key(std::string_view s);
// A file of a volume (items[].path): not empty, relative, no ".." element, not starting "..".
[[nodiscard]] bool is_volume_file_path(std::string_view s);
[[nodiscard]] std::string quote(std::string_view s);

// ---- values (manifest_values.cpp) ------------------------------------------------------------

// Warns once when a scalar is one kubectl would read as a number or boolean, not text; the
// warning shows the value unless `secret`.
void warn_if_not_text(const ConfigNode& n, bool secret = false);
// The pairs of a map, in file order, each value a ConfigNode at "<path>.<key>" (empty if `n` is
// undefined). Linear, where looking each key up again would walk the map every time.
[[nodiscard]] std::vector<std::pair<std::string, ConfigNode>> entries(const ConfigNode& n);
[[nodiscard]] std::optional<std::string> text(const ConfigNode& n, std::string_view key);
[[nodiscard]] std::string required_text(const ConfigNode& n, std::string_view key);
// A list of strings, as Kubernetes requires (a single string is an error).
[[nodiscard]] std::optional<std::vector<std::string>> text_list(const ConfigNode& n,
                                                                std::string_view key);
[[nodiscard]] std::chrono::milliseconds seconds_field(const ConfigNode& n, std::string_view key,
                                                      std::int64_t min, std::int64_t fallback);
// A Kubernetes quantity as bytes: 1Gi, 500Mi, 128974848, 129e6, 129M, 1.5Gi. Rounds up.
[[nodiscard]] std::optional<std::uint64_t> parse_quantity(std::string_view s);
[[nodiscard]] std::optional<RestartPolicy> parse_restart_policy(std::string_view s);
// A CPU quantity in millicores: 250m, 0.5, 2. Rounds up.
[[nodiscard]] std::optional<std::uint64_t> parse_cpu_millis(std::string_view s);
// Standard base64 with padding, as the API server decodes a Secret's data (line breaks are
// skipped); nullopt for anything else.
[[nodiscard]] std::optional<std::string> decode_base64(std::string_view s);
// A file mode (defaultMode, mode): 0 to 0777, written in octal with a leading 0 (0644, as YAML
// 1.1 reads it for kubectl) or 0o, or in decimal (420). Throws ConfigError otherwise.
[[nodiscard]] std::optional<int> file_mode(const ConfigNode& n, std::string_view key);

// ---- environment and security (env.cpp, security.cpp) ----------------------------------------

// metadata.labels['key'] / metadata.annotations['key'] -> the key, else nullopt.
[[nodiscard]] std::optional<std::string> subscript(std::string_view path, std::string_view prefix);
// Field paths a fieldRef may name: in env, and in a downwardAPI volume.
[[nodiscard]] bool is_env_field_path(std::string_view p);
[[nodiscard]] bool is_volume_field_path(std::string_view p);
// A resourceFieldRef's resource: limits. or requests. of cpu, memory, ephemeral-storage or
// hugepages-<size>.
[[nodiscard]] bool is_resource_field(std::string_view r);
// The value of a field path of `pod` (either kind above). metadata.labels and
// metadata.annotations are every pair as key="value" lines, sorted, as the kubelet writes them.
[[nodiscard]] std::string field_value(const PodSpec& pod, const std::string& path,
                                      const std::string& pod_ip, const NodeInfo& node);

// Whether `container`'s environment, command and args fit in `max_bytes` once expanded for
// `pod` (with the longest pod address), counting each string's terminating NUL and each
// variable's '='. Stops as soon as they do not, however large expansion would make them.
[[nodiscard]] bool expands_within(const PodSpec& pod, const ContainerSpec& container,
                                  std::size_t max_bytes);

// The pod's securityContext (`sc` may be undefined). Throws ConfigError.
[[nodiscard]] PodSecurity parse_pod_security(const ConfigNode& sc);
// A container's securityContext (`sc` may be undefined) over its pod's. Throws ConfigError.
[[nodiscard]] SecuritySpec parse_container_security(const ConfigNode& sc, const PodSecurity& pod);

}  // namespace tender::pod
