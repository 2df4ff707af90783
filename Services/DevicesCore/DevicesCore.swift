// DevicesCore: work in progress
