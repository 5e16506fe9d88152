"use strict";
tender.panel({title: "Pods"});
