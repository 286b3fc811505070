"""The agents as A2A servers and clients.

Every Quarterdeck agent (coordinator, observer, planner, executor) is an A2A server with an agent
card; agents reach each other only through `AgentClient`, either in one process (httpx
`ASGITransport` straight into the other agent's app) or over HTTP when they run as separate
processes. Structured requests travel as a `Part(data=…)` whose `"skill"` key names the skill.
"""
