#pragma once
// Where `tender scatter`'s shards come from: --leaves, or the file's leaves, shards or shard_set,
// with the replicas block applied to each. Part of resolve_scatter (scatter_config.hpp); split
// out because the shards are most of the settings. (Private.)
//
//   resolve_shards(flags, file, cfg);    // fills cfg.replicas, cfg.shards, cfg.shard_set...

#include "core/config.hpp"
#include "scatter/scatter_config.hpp"

namespace tender::scatter {

// Throws UsageError (--leaves, or no shards at all) or ConfigError at the file's line and key.
// The file's shards are read and checked even when --leaves replaces them.
void resolve_shards(const ScatterFlags& flags, const ConfigNode& file, ScatterConfig& c);

}  // namespace tender::scatter
