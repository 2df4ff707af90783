// DisciplineCore: work in progress
