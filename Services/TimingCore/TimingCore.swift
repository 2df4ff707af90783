// TimingCore: work in progress
