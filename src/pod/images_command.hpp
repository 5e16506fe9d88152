#pragma once
// `tender pod images`: the image store's command line, registered under `tender pod` by
// command.cpp. Private to src/pod.

#include <CLI/CLI.hpp>

namespace tender::pod {

// images [list], images pull REF, images import SOURCE [--name REF], images rm REF...
void add_images_command(CLI::App& pod_command, int& exit_code);

}  // namespace tender::pod
