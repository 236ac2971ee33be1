package bot

// SetCrash makes c call crash at its named crash points (see Core.crash); a panic there is the
// process dying right after that commit.
func SetCrash(c *Core, crash func(point string)) { c.crash = crash }
