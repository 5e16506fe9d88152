#pragma once
// The files of a pod's configMap, secret, downwardAPI and projected volumes: what they hold
// (volume_files(), no I/O, unit-tested) and writing them into the run directory before the
// pod's containers start (write_volume_files()). The runner mounts them read-only.
//
//   for (const Volume& v : pod.volumes) {
//     if (v.is_generated()) {
//       Result<> w = write_volume_files(dir + "/" + v.name, volume_files(pod, v, ip, node),
//                                       pod.security.fs_group);
//     }
//   }

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "pod/manifest.hpp"

namespace tender::pod {

struct VolumeFile {
  std::string path;  // relative to the volume; may name subdirectories
  std::string content;
  int mode = 0644;
};

// The files of `v` for `pod`, in the order of its sources: a configMap or secret source's
// items (or every key, named after it), a downwardAPI source's fields, each with its mode or
// the volume's defaultMode. An optional object or key that is missing gives no file; a path
// given twice keeps the last (the parser refuses both, so only a pod made by hand has them).
[[nodiscard]] std::vector<VolumeFile> volume_files(const PodSpec& pod, const Volume& v,
                                                   const std::string& pod_ip, const NodeInfo& node);

// Makes `dir` afresh (0755; what was there is removed) and writes `files` in it, directories
// 0755 on the way, each file with its mode, owned by the runner's user. With `fs_group`, every
// file and directory belongs to that group and is group-readable (directories set-group-ID),
// as the kubelet sets a read-only volume's ownership. An error names the file.
[[nodiscard]] Result<> write_volume_files(const std::string& dir,
                                          const std::vector<VolumeFile>& files,
                                          std::optional<std::int64_t> fs_group);

}  // namespace tender::pod
