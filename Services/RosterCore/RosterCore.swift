// RosterCore: work in progress
